//! Where a run's results are kept: `results.json` and `report.svg`, in `bench/` of the cargo
//! target directory, so runs can be compared (the JSON by script, the chart by eye).

use std::path::{Path, PathBuf};

use crate::{report, svg};

/// Where the outputs go: `--out`, else `bench/` in `CARGO_TARGET_DIR`, else in the target
/// directory this binary sits in (`<target>/release/authql-bench`).
fn dir(explicit: Option<PathBuf>) -> Result<PathBuf, String> {
    if let Some(dir) = explicit {
        return Ok(dir);
    }
    if let Some(dir) = std::env::var_os("CARGO_TARGET_DIR").filter(|d| !d.is_empty()) {
        return Ok(PathBuf::from(dir).join("bench"));
    }
    let me = std::env::current_exe().map_err(|e| format!("cannot find myself: {e}"))?;
    let target = me.parent().and_then(Path::parent).ok_or("no target directory above this executable")?;
    Ok(target.join("bench"))
}

/// Writes `results.json` and `report.svg`; returns their paths.
pub(crate) fn write(run: &report::Run, explicit: Option<PathBuf>) -> Result<(PathBuf, PathBuf), String> {
    let dir = dir(explicit)?;
    std::fs::create_dir_all(&dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    let json = dir.join("results.json");
    let text = serde_json::to_string_pretty(run).map_err(|e| format!("results as JSON: {e}"))?;
    std::fs::write(&json, text + "\n").map_err(|e| format!("cannot write {}: {e}", json.display()))?;
    let chart = dir.join("report.svg");
    let title =
        format!("authql benchmark: {} connections, {}s per scenario", run.connections, run.seconds_per_scenario);
    std::fs::write(&chart, svg::chart(&title, &run.backends))
        .map_err(|e| format!("cannot write {}: {e}", chart.display()))?;
    Ok((json, chart))
}
