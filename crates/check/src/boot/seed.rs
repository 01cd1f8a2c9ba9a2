//! The NoCloud seed of a boot test: a small FAT volume labelled `cidata` holding
//! `meta-data` and `user-data` (cloud-init's NoCloud datasource), built in memory with
//! the `fatfs` crate (no mkfs/genisoimage at run time).
//!
//! The user-data's `runcmd` (cloud-init's final stage, `scripts_user`) prints the marker
//! on the serial console. The marker never appears whole in the seed: the command
//! assembles it from two halves, so a console that echoes the user-data cannot fake it.

use std::io::{Cursor, Write};

/// Size of the seed volume (FAT12).
pub const SEED_BYTES: usize = 1 << 20;

/// The marker a booted guest prints: `imgport-boot-ok-<token>`.
pub fn marker(token: &str) -> String {
    format!("{MARKER_PREFIX}-ok-{token}")
}

const MARKER_PREFIX: &str = "imgport-boot";

/// The `user-data`: a cloud-config whose final stage prints the marker on ttyS0 (and on
/// the console, in case the serial line is not ttyS0).
pub fn user_data(token: &str) -> String {
    format!(
        "#cloud-config\n\
         runcmd:\n  \
         - [sh, -c, 'p={MARKER_PREFIX}; echo \"$p-ok-{token}\" > /dev/ttyS0 || echo \"$p-ok-{token}\" > /dev/console']\n"
    )
}

/// The `meta-data`: a fresh instance id, so cloud-init runs its per-instance modules.
pub fn meta_data(token: &str) -> String {
    format!("instance-id: imgport-boot-{token}\nlocal-hostname: imgport-boot\n")
}

/// The seed volume's bytes.
pub fn build(token: &str) -> std::io::Result<Vec<u8>> {
    let mut disk = Cursor::new(vec![0u8; SEED_BYTES]);
    fatfs::format_volume(
        &mut disk,
        fatfs::FormatVolumeOptions::new()
            .volume_label(*b"cidata     ")
            .fat_type(fatfs::FatType::Fat12),
    )?;
    {
        let fs = fatfs::FileSystem::new(&mut disk, fatfs::FsOptions::new())?;
        for (name, text) in [
            ("meta-data", meta_data(token)),
            ("user-data", user_data(token)),
        ] {
            let mut f = fs.root_dir().create_file(name)?;
            f.truncate()?;
            f.write_all(text.as_bytes())?;
            f.flush()?;
        }
        fs.unmount()?;
    }
    Ok(disk.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

    #[test]
    fn seed_holds_both_files_and_never_the_whole_marker() {
        let img = build("00ff").unwrap();
        assert_eq!(img.len(), SEED_BYTES);
        let fs = fatfs::FileSystem::new(Cursor::new(img.clone()), fatfs::FsOptions::new()).unwrap();
        assert_eq!(fs.volume_label().trim_end(), "cidata");
        let mut names: Vec<String> = fs
            .root_dir()
            .iter()
            .filter_map(|e| e.ok())
            .map(|e| e.file_name())
            .collect();
        names.sort();
        assert_eq!(names, ["meta-data", "user-data"]);
        let mut ud = String::new();
        fs.root_dir()
            .open_file("user-data")
            .unwrap()
            .read_to_string(&mut ud)
            .unwrap();
        assert!(ud.starts_with("#cloud-config\n"), "{ud}");
        let m = marker("00ff");
        assert!(!ud.contains(&m), "{ud}");
        assert!(!img.windows(m.len()).any(|w| w == m.as_bytes()));
    }

    /// Real tools read the seed as cloud-init's ds-identify and mount do: blkid sees
    /// the `cidata` label, mtools the two files by their long names.
    #[test]
    fn blkid_and_mtools_read_the_seed() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("seed.img");
        std::fs::write(&f, build("abcd").unwrap()).unwrap();
        let run = |cmd: &str, args: &[&str]| {
            let path = format!(
                "{}:/sbin:/usr/sbin",
                std::env::var("PATH").unwrap_or_default()
            );
            match std::process::Command::new(cmd)
                .args(args)
                .env("PATH", path)
                .output()
            {
                Ok(o) if o.status.success() => {
                    Some(String::from_utf8_lossy(&o.stdout).into_owned())
                }
                r => {
                    imgport_test_support::skip(
                        &format!("{cmd} not usable: {r:?}"),
                        "apt-get install util-linux mtools",
                    );
                    None
                }
            }
        };
        let fp = f.to_str().unwrap();
        if let Some(label) = run("blkid", &["-p", "-o", "value", "-s", "LABEL", fp]) {
            assert_eq!(label.trim(), "cidata");
        }
        if let Some(ud) = run("mtype", &["-i", fp, "::user-data"]) {
            assert_eq!(ud, user_data("abcd"));
        }
        if let Some(md) = run("mtype", &["-i", fp, "::meta-data"]) {
            assert!(md.contains("instance-id: imgport-boot-abcd"), "{md}");
        }
    }
}
