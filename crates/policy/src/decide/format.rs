//! R-FMT and R-SIZE-*: the image file's format and sizes.

use super::*;

/// True when the format is accepted and readable.
pub(super) fn check_format(cx: &mut Cx, f: &FormatFacts) -> bool {
    cx.check(RuleId::Format);
    let detected = nonempty(&f.detected_format);
    let accepted = detected.and_then(normalize_format);
    let mut evidence = Vec::new();
    if let Some(d) = detected {
        evidence.push(format!("detected format: {}", clip(d)));
    }
    if let Some(r) = nonempty(&f.refusal) {
        evidence.push(format!("disk core: {}", clip(r)));
        let fix = if accepted.is_some() {
            fixes::refused()
        } else {
            detected
                .and_then(fixes::not_a_disk)
                .unwrap_or_else(fixes::format)
        };
        cx.fail(
            Code::InvalidFormatSize,
            RuleId::Format,
            format!(
                "the image was refused: {} (R-FMT: only sound raw, qcow2, vhd and vmdk images \
                 are accepted)",
                clip(r)
            ),
            evidence,
            fix,
        );
        return false;
    }
    match (detected, accepted) {
        (None, _) => {
            cx.warn(
                RuleId::Format,
                "the image format was not determined; it must be raw, qcow2, vhd or vmdk".into(),
                evidence,
                vec!["Check it with `qemu-img info SRC | grep 'file format'`".into()],
            );
            false
        }
        (Some(d), None) => {
            cx.fail(
                Code::InvalidFormatSize,
                RuleId::Format,
                format!(
                    "image format '{}' is not accepted: only raw, qcow2, vhd and vmdk",
                    clip(d)
                ),
                evidence,
                fixes::format(),
            );
            false
        }
        (Some(_), Some(a)) if !f.supported => {
            let mut fix = fixes::refused();
            fix.truncate(1);
            fix.extend(fixes::format());
            cx.fail(
                Code::InvalidFormatSize,
                RuleId::Format,
                format!("this {a} image's variant or features cannot be read"),
                evidence,
                fix,
            );
            false
        }
        (Some(_), Some(_)) => true,
    }
}

pub(super) fn check_sizes(cx: &mut Cx, f: &FormatFacts, format_ok: bool) {
    match f.virtual_size {
        Some(v) => {
            cx.check(RuleId::SizeVirtual);
            if v > MAX_VIRTUAL_BYTES {
                cx.fail(
                    Code::InvalidFormatSize,
                    RuleId::SizeVirtual,
                    format!(
                        "virtual size {} exceeds the {} limit",
                        size(v),
                        size(MAX_VIRTUAL_BYTES)
                    ),
                    vec![format!("virtual size: {}", size(v))],
                    fixes::virtual_size(),
                );
            }
        }
        None if format_ok => cx.warn(
            RuleId::SizeVirtual,
            "the virtual size is unknown; it must be at most 500 GiB".into(),
            vec![],
            vec!["Check it with `qemu-img info SRC | grep 'virtual size'`".into()],
        ),
        None => {}
    }

    let is_qcow2 = nonempty(&f.detected_format).and_then(normalize_format) == Some("qcow2");
    let actual = match (f.qcow2_required, f.file_size) {
        (Some(r), _) => Some((r, format!("size as qcow2 (measured): {}", size(r)))),
        (None, Some(fs)) if is_qcow2 => Some((
            fs,
            format!("qcow2 file size (not re-measured): {}", size(fs)),
        )),
        _ => None,
    };
    match actual {
        Some((a, ev)) => {
            cx.check(RuleId::SizeActual);
            if a > MAX_ACTUAL_BYTES && f.qcow2_required_counts_zeros {
                // Only an upper bound: not established, so a warning (the import
                // measures its stored copy, whose holes it sees).
                cx.warn(
                    RuleId::SizeActual,
                    format!(
                        "the size as qcow2 is at most {}, over the {} limit, but that counts \
                         every byte this {} image maps straight onto its file: its zero \
                         regions could not be seen (read over HTTP, which does not show a \
                         file's holes); the import may fail with InvalidFormatSize",
                        size(a),
                        size(MAX_ACTUAL_BYTES),
                        if is_qcow2 {
                            "metadata-preallocated qcow2"
                        } else {
                            nonempty(&f.detected_format)
                                .and_then(normalize_format)
                                .unwrap_or("raw")
                        }
                    ),
                    vec![
                        ev,
                        "guest bytes map straight onto the file; holes unknown".into(),
                    ],
                    vec![
                        "Check the local file instead (`imgport check FILE` sees its holes), \
                          or convert it, which skips zeros: `qemu-img convert -O qcow2 SRC \
                          image.qcow2`, and upload the qcow2"
                            .into(),
                    ],
                );
            } else if a > MAX_ACTUAL_BYTES {
                let mut evidence = vec![ev];
                if let Some(fs) = f.file_size {
                    evidence.push(format!("image file size: {}", size(fs)));
                }
                cx.fail(
                    Code::InvalidFormatSize,
                    RuleId::SizeActual,
                    format!(
                        "actual size as qcow2 {} exceeds the {} limit",
                        size(a),
                        size(MAX_ACTUAL_BYTES)
                    ),
                    evidence,
                    fixes::actual_size(),
                );
            }
        }
        None if format_ok => cx.warn(
            RuleId::SizeActual,
            "the size as qcow2 was not measured; it must be at most 50 GiB".into(),
            vec![],
            vec!["Measure it with `imgport measure -O qcow2 SRC` \
                  (or `qemu-img measure -O qcow2 SRC`, \"required size\")"
                .into()],
        ),
        None => {}
    }
}
