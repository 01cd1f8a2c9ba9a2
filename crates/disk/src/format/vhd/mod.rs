//! VHD (Virtual PC / Hyper-V; Microsoft "Virtual Hard Disk Image Format
//! Specification" 1.0): fixed and dynamic disks, read as qemu's block/vpc.c reads them.
//! Differencing disks name a parent file and are refused (R-FMT safety).

pub mod bat;
pub mod dynamic_header;
pub mod footer;

pub use footer::Footer;

use crate::image::{push_extent, Extent, ExtentKind, ImageInfo, VirtualDisk};
use crate::source::{ReadAt, ReadAtExt};
use crate::{Error, Format, Result};
use bat::Bat;
use dynamic_header::DynamicHeader;
use footer::{FOOTER_SIZE, TYPE_DIFFERENCING, TYPE_DYNAMIC, TYPE_FIXED};
use std::sync::Arc;

pub(crate) const FMT: &str = "vhd";

/// Open a VHD image.
pub fn open(src: Arc<dyn ReadAt>) -> Result<Box<dyn VirtualDisk>> {
    Ok(Box::new(VhdDisk::open(src)?))
}

/// How guest offsets map onto the file.
enum Layout {
    /// Guest offset = file offset; the footer follows the data.
    Fixed,
    /// Blocks through the BAT.
    Dynamic { bat: Bat, block_size: u64 },
}

/// An open fixed or dynamic VHD.
pub struct VhdDisk {
    src: Arc<dyn ReadAt>,
    footer: Footer,
    layout: Layout,
    info: ImageInfo,
}

impl VhdDisk {
    /// Open `src` as qemu's `vpc_open` does: the footer copy at offset 0 means a
    /// dynamic disk, otherwise the footer in the last 512 bytes means a fixed one.
    pub fn open(src: Arc<dyn ReadAt>) -> Result<VhdDisk> {
        let file_size = src.size();
        if file_size < FOOTER_SIZE as u64 {
            return Err(Error::corrupt(
                FMT,
                "footer",
                0,
                format!("the file is {file_size} bytes, shorter than a VHD footer"),
            ));
        }
        let footer = read_footer(&*src, file_size)?;
        let at_start = footer.offset == 0;
        check_disk_type(footer.disk_type, at_start)?;
        let virtual_size = footer.virtual_size()?;
        let mut info = ImageInfo::new(
            Format::Vhd,
            if at_start { "dynamic" } else { "fixed" },
            virtual_size,
            file_size,
        );
        footer_details(&footer, &mut info);
        let layout = if at_start {
            open_dynamic(&*src, &footer, virtual_size, &mut info)?
        } else {
            open_fixed(&footer, file_size, virtual_size, &mut info)?
        };
        Ok(VhdDisk {
            src,
            footer,
            layout,
            info,
        })
    }

    /// The parsed footer.
    pub fn footer(&self) -> &Footer {
        &self.footer
    }
}

/// The footer: its copy at offset 0 if it has the cookie, else the last 512 bytes.
fn read_footer(src: &dyn ReadAt, file_size: u64) -> Result<Footer> {
    let head = src.read_vec(0, FOOTER_SIZE)?;
    if Footer::has_cookie(&head) {
        return Footer::parse(&head, 0);
    }
    let at = file_size - FOOTER_SIZE as u64;
    let tail = src.read_vec(at, FOOTER_SIZE)?;
    if !Footer::has_cookie(&tail) {
        return Err(Error::corrupt(
            FMT,
            "footer",
            at,
            "no 'conectix' footer at offset 0 or in the last 512 bytes",
        ));
    }
    Footer::parse(&tail, at)
}

/// Whether the disk type fits where its footer was found: dynamic disks have the
/// copy at offset 0, fixed ones only the footer at the end; differencing disks
/// (a parent file, R-FMT safety) and other types are refused.
fn check_disk_type(disk_type: u32, at_start: bool) -> Result<()> {
    match (disk_type, at_start) {
        (TYPE_DIFFERENCING, _) => Err(Error::unsafe_image(
            FMT,
            "this is a differencing VHD (disk type 4): its data depends on a parent image named in its parent locators, which is never opened — merge it into a full disk (e.g. Hyper-V Edit Disk → Merge, or `qemu-img convert` on the host that has the parent)",
        )),
        (TYPE_DYNAMIC, true) | (TYPE_FIXED, false) => Ok(()),
        (TYPE_DYNAMIC, false) => Err(Error::corrupt(
            FMT,
            "footer",
            0,
            "a dynamic disk's footer copy at offset 0 is missing (only the footer at the end was found)",
        )),
        (TYPE_FIXED, true) => Err(Error::corrupt(
            FMT,
            "footer",
            0,
            "a footer at offset 0 says the disk is fixed; fixed disks keep their footer only at the end",
        )),
        (t, _) => Err(Error::unsupported(
            FMT,
            format!("disk type {t} (only fixed = 2 and dynamic = 3 are importable)"),
        )),
    }
}

/// The footer's fields shown in `info`'s details.
fn footer_details(footer: &Footer, info: &mut ImageInfo) {
    info.detail("creator_app", footer.creator_app_str());
    info.detail("creator_os", footer.creator_os_str());
    info.detail(
        "creator_version",
        format!(
            "{}.{}",
            footer.creator_version >> 16,
            footer.creator_version & 0xffff
        ),
    );
    info.detail("current_size", footer.current_size);
    info.detail(
        "geometry",
        format!(
            "{}/{}/{}",
            footer.cylinders, footer.heads, footer.sectors_per_track
        ),
    );
    info.detail(
        "size_from",
        if footer.uses_chs() {
            "chs"
        } else {
            "current_size"
        },
    );
}

/// A dynamic disk: its dynamic header and BAT, their details and findings, and the
/// trailing footer copy.
fn open_dynamic(
    src: &dyn ReadAt,
    footer: &Footer,
    virtual_size: u64,
    info: &mut ImageInfo,
) -> Result<Layout> {
    let hdr = DynamicHeader::read(src, footer.data_offset)?;
    if hdr.has_parent_locator {
        info.findings.push(
            "the dynamic disk header has parent locator entries; a dynamic (not differencing) disk does not use them and they are ignored".into(),
        );
    }
    if !hdr.checksum_ok {
        info.findings.push(format!(
            "the dynamic disk header checksum at {:#x} is wrong (qemu ignores it)",
            hdr.offset + 36
        ));
    }
    let bat = Bat::read(src, &hdr, virtual_size)?;
    info.cluster_size = Some(u64::from(hdr.block_size));
    info.detail("block_size", hdr.block_size);
    info.detail("max_table_entries", hdr.max_table_entries);
    info.detail(
        "header_version",
        format!(
            "{}.{}",
            hdr.header_version >> 16,
            hdr.header_version & 0xffff
        ),
    );
    info.detail("allocated_blocks", bat.allocated() as u64);
    check_trailing_footer(src, info);
    Ok(Layout::Dynamic {
        bat,
        block_size: u64::from(hdr.block_size),
    })
}

/// A fixed disk: the data before the footer must hold the virtual size; extra bytes
/// are a finding.
fn open_fixed(
    footer: &Footer,
    file_size: u64,
    virtual_size: u64,
    info: &mut ImageInfo,
) -> Result<Layout> {
    let data_end = file_size - FOOTER_SIZE as u64;
    if virtual_size > data_end {
        return Err(Error::corrupt(
            FMT,
            "footer",
            footer.offset,
            format!("the footer's size of {virtual_size} bytes is larger than the {data_end} data bytes before it: the file is truncated"),
        ));
    }
    if virtual_size < data_end {
        info.findings.push(format!(
            "{} bytes between the end of the disk and the footer are not part of the disk",
            data_end - virtual_size
        ));
    }
    Ok(Layout::Fixed)
}

/// A dynamic disk repeats its footer in the last 512 bytes; a missing copy usually
/// means an interrupted copy or upload (qemu does not check it).
fn check_trailing_footer(src: &dyn ReadAt, info: &mut ImageInfo) {
    let at = src.size() - FOOTER_SIZE as u64;
    let ok = src
        .read_vec(at, FOOTER_SIZE)
        .ok()
        .is_some_and(|t| Footer::parse(&t, at).is_ok());
    if !ok {
        info.findings.push(
            "the footer copy at the end of the file is missing or damaged: the file may be truncated"
                .into(),
        );
    }
}

impl ReadAt for VhdDisk {
    fn size(&self) -> u64 {
        self.info.virtual_size
    }

    fn read_exact_at(&self, buf: &mut [u8], offset: u64) -> Result<()> {
        crate::source::check_bounds(
            &|| self.describe(),
            offset,
            buf.len(),
            self.info.virtual_size,
        )?;
        let (bat, block_size) = match &self.layout {
            Layout::Fixed => return self.src.read_exact_at(buf, offset),
            Layout::Dynamic { bat, block_size } => (bat, *block_size),
        };
        let mut done = 0usize;
        while done < buf.len() {
            let pos = offset + done as u64;
            let n = ((block_size - pos % block_size) as usize).min(buf.len() - done);
            let chunk = &mut buf[done..done + n];
            match bat.host_offset(pos) {
                Some(host) => self.src.read_exact_at(chunk, host)?,
                None => chunk.fill(0),
            }
            done += n;
        }
        Ok(())
    }

    fn bytes_read(&self) -> u64 {
        self.src.bytes_read()
    }

    fn describe(&self) -> String {
        self.src.describe()
    }
}

impl VirtualDisk for VhdDisk {
    fn info(&self) -> &ImageInfo {
        &self.info
    }

    fn source(&self) -> &dyn ReadAt {
        &*self.src
    }

    /// Fixed disks map straight onto the file (qemu: `BDRV_BLOCK_RECURSE`).
    fn data_recurses_to_host(&self) -> bool {
        matches!(self.layout, Layout::Fixed)
    }

    /// qemu `vpc_co_block_status`: fixed → data at the same offset; dynamic →
    /// allocated blocks are data at their file offset, others unallocated.
    fn extents(&self, offset: u64, len: u64) -> Result<Vec<Extent>> {
        let end = offset.saturating_add(len).min(self.info.virtual_size);
        let mut out = Vec::new();
        if offset >= end {
            return Ok(out);
        }
        let (bat, block_size) = match &self.layout {
            Layout::Fixed => {
                out.push(Extent {
                    offset,
                    length: end - offset,
                    kind: ExtentKind::Data,
                    host_offset: Some(offset),
                });
                return Ok(out);
            }
            Layout::Dynamic { bat, block_size } => (bat, *block_size),
        };
        let mut pos = offset;
        while pos < end {
            let n = (block_size - pos % block_size).min(end - pos);
            let host = bat.host_offset(pos);
            push_extent(
                &mut out,
                Extent {
                    offset: pos,
                    length: n,
                    kind: if host.is_some() {
                        ExtentKind::Data
                    } else {
                        ExtentKind::Unallocated
                    },
                    host_offset: host,
                },
            );
            pos += n;
        }
        Ok(out)
    }
}
