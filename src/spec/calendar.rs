//! A repository's calendar: each group's allow windows and the deny windows
//! whose selector matches it, compiled. It lives with the spec so that the
//! schedule module knows no spec type.

use std::collections::BTreeMap;

use super::Repository;
use crate::schedule::window::WindowKind;
use crate::schedule::{Calendar, WindowSchedule};

impl Calendar {
    /// Compiles the windows of every group. Windows that do not compile are
    /// left out: `validate` reports them, and nothing should run on a guess.
    pub fn build(repo: &Repository) -> Calendar {
        let compiled: BTreeMap<&str, WindowSchedule> = repo
            .windows
            .iter()
            .filter_map(|w| WindowSchedule::from_spec(w).ok().map(|s| (w.name(), s)))
            .collect();
        let mut groups = Vec::new();
        for g in &repo.groups {
            let allow = g
                .spec
                .windows
                .iter()
                .filter_map(|name| compiled.get(name.value.as_str()))
                .filter(|w| w.kind == WindowKind::Allow)
                .cloned()
                .collect();
            let deny = repo
                .windows
                .iter()
                .filter(|w| w.spec.kind == WindowKind::Deny)
                .filter(|w| {
                    w.spec
                        .selector
                        .as_ref()
                        .is_none_or(|sel| sel.matches(&g.metadata.labels))
                })
                .filter_map(|w| compiled.get(w.name()))
                .cloned()
                .collect();
            groups.push((g.name().to_string(), allow, deny));
        }
        Calendar::from_groups(groups)
    }
}
