//! The outcome of [`crate::decide()`]: error codes (SPEC.md R-ERR) and findings.

use crate::rules::RuleId;
use serde::{Deserialize, Serialize};
use std::fmt;

/// An import error code. The variants are declared in the import pipeline's order
/// (URL, format/size, partition, root, OS/architecture, virtio, cloud-init), so the derived
/// `Ord` sorts codes the way the service meets them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Code {
    /// The object-storage link is invalid (R-REGION; the rest is the service's).
    InvalidUrl,
    /// Format or size outside the limits (R-FMT, R-SIZE-ACTUAL, R-SIZE-VIRTUAL).
    InvalidFormatSize,
    /// Partition information missing, or GPT (R-PART).
    PartitionNotPresent,
    /// No root partition found (R-ERR, R-PART for Windows).
    RootPartitionNotFound,
    /// OS type outside the supported list (R-OS).
    #[serde(rename = "InvalidImageOsType.Unsupported")]
    InvalidImageOsTypeUnsupported,
    /// OS version outside the supported list (R-OS, declared version).
    #[serde(rename = "InvalidImageOsVersion.Unsupported")]
    InvalidImageOsVersionUnsupported,
    /// Architecture other than x86_64 / i386 (R-ARCH).
    #[serde(rename = "InvalidImageArchitecture.Unsupported")]
    InvalidImageArchitectureUnsupported,
    /// virtio drivers missing (R-VIRTIO), or no kernel at all, which ships them (R-KERNEL).
    VirtioNotInstall,
    /// cloud-init / cloudbase-init missing (R-CLOUDINIT).
    CloudInitNotInstalled,
    /// Anything else (never produced by the policy; listed for the service).
    InternalError,
}

impl Code {
    /// Every code, in pipeline order.
    pub const ALL: &'static [Code] = &[
        Code::InvalidUrl,
        Code::InvalidFormatSize,
        Code::PartitionNotPresent,
        Code::RootPartitionNotFound,
        Code::InvalidImageOsTypeUnsupported,
        Code::InvalidImageOsVersionUnsupported,
        Code::InvalidImageArchitectureUnsupported,
        Code::VirtioNotInstall,
        Code::CloudInitNotInstalled,
        Code::InternalError,
    ];

    /// The code as the API spells it.
    pub fn as_str(self) -> &'static str {
        match self {
            Code::InvalidUrl => "InvalidUrl",
            Code::InvalidFormatSize => "InvalidFormatSize",
            Code::PartitionNotPresent => "PartitionNotPresent",
            Code::RootPartitionNotFound => "RootPartitionNotFound",
            Code::InvalidImageOsTypeUnsupported => "InvalidImageOsType.Unsupported",
            Code::InvalidImageOsVersionUnsupported => "InvalidImageOsVersion.Unsupported",
            Code::InvalidImageArchitectureUnsupported => "InvalidImageArchitecture.Unsupported",
            Code::VirtioNotInstall => "VirtioNotInstall",
            Code::CloudInitNotInstalled => "CloudInitNotInstalled",
            Code::InternalError => "InternalError",
        }
    }

    /// The code spelled `s`, if any.
    pub fn parse(s: &str) -> Option<Code> {
        Code::ALL.iter().copied().find(|c| c.as_str() == s)
    }

    /// The seed's one-line meaning of the code (R-ERR table).
    pub fn meaning(self) -> &'static str {
        match self {
            Code::InvalidUrl => "the object-storage link is invalid",
            Code::InvalidFormatSize => "format or size outside the limits",
            Code::PartitionNotPresent => "partition information missing",
            Code::RootPartitionNotFound => "no root partition found",
            Code::InvalidImageOsTypeUnsupported => "operating system type not supported",
            Code::InvalidImageOsVersionUnsupported => "operating system version not supported",
            Code::InvalidImageArchitectureUnsupported => "architecture not supported",
            Code::VirtioNotInstall => "virtio drivers not installed",
            Code::CloudInitNotInstalled => "cloud-init not installed",
            Code::InternalError => "internal error",
        }
    }
}

impl fmt::Display for Code {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How serious a finding is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// The import fails with the finding's code.
    Error,
    /// The import may fail or the instance may misbehave; or an error waived by `Force`.
    Warning,
    /// Something the user should know.
    Info,
}

/// One problem (or note) about the image, with the rule it concerns.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Finding {
    pub severity: Severity,
    /// The error code (also on a finding `Force` waived, to say what was waived).
    pub code: Option<Code>,
    /// The SPEC.md rule id (`R-…`).
    pub rule: RuleId,
    /// One line: what was found, which rule it breaks.
    pub message: String,
    /// What was read, and where.
    pub evidence: Vec<String>,
    /// Concrete steps or commands that fix it.
    pub fix: Vec<String>,
    /// True when `Force` turned this error into a warning.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub waived: bool,
}

/// The decision on one image: importable or not, the codes, and every finding.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Verdict {
    /// No error findings.
    pub importable: bool,
    /// The distinct codes of the error findings, in pipeline order.
    pub codes: Vec<Code>,
    /// Errors first (pipeline order), then warnings, then information.
    pub findings: Vec<Finding>,
    /// Rules that were checked and passed.
    pub passed: Vec<RuleId>,
}

impl Verdict {
    /// Builds a verdict from findings: sorts them and derives `codes` and `importable`.
    pub fn from_findings(mut findings: Vec<Finding>, passed: Vec<RuleId>) -> Verdict {
        // Stable: within a severity, findings keep the pipeline order they were made in;
        // errors are ordered by code.
        findings.sort_by_key(|f| {
            (
                f.severity,
                if f.severity == Severity::Error {
                    f.code
                } else {
                    None
                },
            )
        });
        let mut codes: Vec<Code> = findings
            .iter()
            .filter(|f| f.severity == Severity::Error)
            .filter_map(|f| f.code)
            .collect();
        codes.sort();
        codes.dedup();
        let mut passed = passed;
        passed.dedup();
        Verdict {
            importable: !findings.iter().any(|f| f.severity == Severity::Error),
            codes,
            findings,
            passed,
        }
    }

    /// The single code the import service reports: the pipeline's first failure.
    pub fn first_code(&self) -> Option<Code> {
        self.codes.first().copied()
    }

    /// The error findings.
    pub fn errors(&self) -> impl Iterator<Item = &Finding> {
        self.findings
            .iter()
            .filter(|f| f.severity == Severity::Error)
    }

    /// The warnings (including errors `Force` waived).
    pub fn warnings(&self) -> impl Iterator<Item = &Finding> {
        self.findings
            .iter()
            .filter(|f| f.severity == Severity::Warning)
    }

    /// The findings about rule `id` (a [`RuleId`] or its spelling, `"R-PART"`).
    pub fn for_rule<'a, R>(&'a self, id: R) -> impl Iterator<Item = &'a Finding> + 'a
    where
        RuleId: PartialEq<R>,
        R: 'a,
    {
        self.findings.iter().filter(move |f| f.rule == id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn code_spelling_round_trips_through_serde() {
        for c in Code::ALL {
            let json = serde_json::to_string(c).unwrap();
            assert_eq!(json, format!("\"{}\"", c.as_str()));
            assert_eq!(serde_json::from_str::<Code>(&json).unwrap(), *c);
            assert_eq!(Code::parse(c.as_str()), Some(*c));
        }
        let mut sorted = Code::ALL.to_vec();
        sorted.sort();
        assert_eq!(sorted, Code::ALL);
    }

    #[test]
    fn severity_serialises_lowercase() {
        assert_eq!(
            serde_json::to_string(&Severity::Warning).unwrap(),
            "\"warning\""
        );
    }
}
