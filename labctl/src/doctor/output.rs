//! `labctl doctor`'s table and JSON document.

use comfy_table::{presets, Table};
use serde::Serialize;

use super::{Feature, Report, Requirement, Verdict};

/// One probe in the JSON document.
#[derive(Debug, Serialize)]
struct ProbeJson<'a> {
    feature: Feature,
    what: &'static str,
    #[serde(flatten)]
    verdict: &'a Verdict,
    /// How to fix it; only when missing (an untested feature waits for what it depends on).
    #[serde(skip_serializing_if = "Option::is_none")]
    fix: Option<&'static str>,
    needed_by: &'a [String],
}

#[derive(Debug, Serialize)]
struct RequirementJson<'a> {
    #[serde(flatten)]
    requirement: &'a Requirement,
    met: bool,
}

/// The whole JSON document.
#[derive(Debug, Serialize)]
struct ReportJson<'a> {
    kernel: &'a str,
    /// Every requirement is met (exit status 0).
    ok: bool,
    /// One line per unmet requirement (what failed, the fix).
    unmet: Vec<String>,
    requirements: Vec<RequirementJson<'a>>,
    probes: Vec<ProbeJson<'a>>,
}

impl Report {
    /// The report as a JSON document (`labctl doctor --output json`).
    pub fn to_json(&self) -> serde_json::Result<String> {
        let doc = ReportJson {
            kernel: &self.kernel,
            ok: self.ok(),
            unmet: self
                .unmet()
                .into_iter()
                .map(|r| self.unmet_line(r))
                .collect(),
            requirements: self
                .requirements
                .iter()
                .map(|r| RequirementJson {
                    requirement: r,
                    met: self.is_met(r),
                })
                .collect(),
            probes: self
                .probes
                .iter()
                .map(|p| ProbeJson {
                    feature: p.feature,
                    what: p.feature.what(),
                    verdict: &p.verdict,
                    fix: matches!(p.verdict, Verdict::Missing { .. }).then(|| p.feature.fix()),
                    needed_by: &p.needed_by,
                })
                .collect(),
        };
        serde_json::to_string_pretty(&doc)
    }

    /// The report as a table, then one line per unmet requirement.
    pub fn to_table(&self) -> String {
        let mut t = Table::new();
        t.load_preset(presets::UTF8_FULL_CONDENSED);
        t.set_header(["feature", "status", "needed by", "detail / error, fix"]);
        for p in &self.probes {
            let status = match (&p.verdict, p.needed_by.is_empty()) {
                (Verdict::Present { .. }, _) => "present".to_string(),
                (v, true) => v.status().to_string(),
                (v, false) => v.status().to_uppercase(),
            };
            let text = match &p.verdict {
                Verdict::Missing { error } => format!("{error}\nfix: {}", p.feature.fix()),
                other => other.text().to_string(),
            };
            t.add_row([
                format!("{}\n{}", p.feature.id(), p.feature.what()),
                status,
                p.needed_by.join("\n"),
                text,
            ]);
        }
        let mut out = format!("kernel {}\n{t}\n", self.kernel);
        let unmet = self.unmet();
        if unmet.is_empty() {
            let n = self.requirements.len();
            out.push_str(&format!("ok: all {n} needs are met\n"));
        }
        for r in unmet {
            out.push_str(&format!("NOT MET: {}\n", self.unmet_line(r)));
        }
        out
    }
}
