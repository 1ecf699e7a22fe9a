//! The command line turned into a run's configuration: the filter, the shuffle scope, the
//! runpath and the host name the report carries.

use std::path::PathBuf;

use crate::cli::{Options, ShuffleWhat};
use crate::testing::{Filter, IgnoredMode, Pattern, PlanError, ShuffleScope};

pub(super) fn filter_from(options: &Options) -> Result<Filter, PlanError> {
    let patterns = options
        .patterns
        .iter()
        .map(|text| Pattern::parse(text))
        .collect::<Result<Vec<_>, _>>()?;
    let ignored = if options.ignored {
        IgnoredMode::Only
    } else if options.include_ignored {
        IgnoredMode::Include
    } else {
        IgnoredMode::Skip
    };
    let tags = |tags: &[String]| {
        tags.iter()
            .map(|tag| tag.trim().to_string())
            .filter(|tag| !tag.is_empty())
            .collect()
    };
    Ok(Filter {
        names: options.filters.clone(),
        exact: options.exact,
        skip: options.skip.clone(),
        patterns,
        tags_any: tags(&options.tags),
        tags_all: tags(&options.tags_all),
        ignored,
    })
}

pub(super) fn shuffle_scope(what: &[ShuffleWhat]) -> ShuffleScope {
    let all = what.contains(&ShuffleWhat::All);
    ShuffleScope {
        tests: all || what.contains(&ShuffleWhat::Tests),
        suites: all || what.contains(&ShuffleWhat::Suites),
        testcases: all || what.contains(&ShuffleWhat::Testcases),
    }
}

/// A plan's name as one file name: ASCII letters, digits and `-` kept, the rest `_`.
pub(crate) fn plan_slug(plan_name: &str) -> String {
    plan_name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' {
                c
            } else {
                '_'
            }
        })
        .collect()
}

/// `<cargo target dir>/testrig/<plan>`: the plan binary lives in `target/<profile>/deps/`
/// (a `[[test]]`) or `target/<profile>/` (a bin or example).
pub(super) fn default_runpath(plan_name: &str) -> PathBuf {
    let slug = plan_slug(plan_name);
    let target = std::env::current_exe().ok().and_then(|exe| {
        let dir = exe.parent()?;
        let profile = if dir.file_name()? == "deps" || dir.file_name()? == "examples" {
            dir.parent()?
        } else {
            dir
        };
        Some(profile.parent()?.to_path_buf())
    });
    target
        .unwrap_or_else(std::env::temp_dir)
        .join("testrig")
        .join(slug)
}

pub(super) fn host_name() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .or_else(|| std::env::var("HOSTNAME").ok())
        .map(|name| name.trim().to_string())
        .filter(|name| !name.is_empty())
        .unwrap_or_else(|| "localhost".to_string())
}
