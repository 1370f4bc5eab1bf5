//! The controller's work queue: when each group is next due, as kube-rs's
//! scheduler keeps it. Pure (the clock is passed in), so its guarantees are
//! unit-tested:
//!
//! - a group is never handed out while a reconcile of it runs;
//! - a trigger that arrives while it runs is not lost: the group is due
//!   again the moment it finishes (coalesced, however many arrived);
//! - a group keeps only its earliest due time;
//! - why a group is due is not recorded: a reconcile looks at the whole
//!   state (level-triggered), never at what woke it.

use std::collections::{BTreeMap, BTreeSet};

use jiff::Timestamp;

#[derive(Debug, Default)]
pub struct Queue {
    /// Group → when it is next due (only groups not running).
    due: BTreeMap<String, Timestamp>,
    running: BTreeSet<String>,
    /// Running groups triggered meanwhile: due again when they finish.
    again: BTreeSet<String>,
}

impl Queue {
    /// Makes `group` due at `at`, unless it is due earlier already. A
    /// running group is due again when it finishes (at `at` at the latest).
    pub fn schedule(&mut self, group: &str, at: Timestamp) {
        if self.running.contains(group) {
            self.again.insert(group.to_string());
            return;
        }
        self.due
            .entry(group.to_string())
            .and_modify(|t| *t = (*t).min(at))
            .or_insert(at);
    }

    /// The earliest time a group not running is due.
    pub fn next_due(&self) -> Option<Timestamp> {
        self.due.values().min().copied()
    }

    /// The groups due at `now`, marked running (each at most once).
    pub fn take_due(&mut self, now: Timestamp) -> Vec<String> {
        let ready: Vec<String> = self
            .due
            .iter()
            .filter(|(_, t)| **t <= now)
            .map(|(g, _)| g.clone())
            .collect();
        for g in &ready {
            self.due.remove(g);
            self.running.insert(g.clone());
        }
        ready
    }

    /// A reconcile of `group` ended; it asked to be looked at again at
    /// `requeue` (a window opening, a freeze's end, a back-off), or only
    /// when something changes (`None`). A trigger that came meanwhile makes
    /// it due at once.
    pub fn finished(&mut self, group: &str, requeue: Option<Timestamp>, now: Timestamp) {
        self.running.remove(group);
        if self.again.remove(group) {
            self.schedule(group, now);
        }
        if let Some(at) = requeue {
            self.schedule(group, at);
        }
    }

    /// Forgets a group the desired state no longer has (a running one is
    /// forgotten when it finishes and is not scheduled again).
    pub fn forget(&mut self, group: &str) {
        self.due.remove(group);
        self.again.remove(group);
    }

    pub fn is_running(&self, group: &str) -> bool {
        self.running.contains(group)
    }

    pub fn running(&self) -> usize {
        self.running.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: &str) -> Timestamp {
        format!("2026-12-02T{s}Z").parse().unwrap()
    }

    #[test]
    fn a_group_is_never_handed_out_twice_and_triggers_are_coalesced() {
        let mut q = Queue::default();
        q.schedule("web", t("10:00:00"));
        q.schedule("web", t("09:00:00"));
        q.schedule("db", t("11:00:00"));
        assert_eq!(
            q.next_due(),
            Some(t("09:00:00")),
            "the earliest time is kept"
        );
        assert!(q.take_due(t("08:59:59")).is_empty());
        assert_eq!(q.take_due(t("09:00:00")), ["web"]);
        assert!(q.is_running("web"));
        // Triggers while it runs: not handed out again now...
        q.schedule("web", t("09:00:01"));
        q.schedule("web", t("09:00:02"));
        assert_eq!(q.next_due(), Some(t("11:00:00")));
        assert!(q.take_due(t("09:30:00")).is_empty());
        // ...but due the moment it finishes, once.
        q.finished("web", Some(t("22:00:00")), t("09:31:00"));
        assert_eq!(q.next_due(), Some(t("09:31:00")));
        assert_eq!(q.take_due(t("09:31:00")), ["web"]);
        q.finished("web", Some(t("22:00:00")), t("09:32:00"));
        assert_eq!(q.take_due(t("21:59:59")), ["db"]);
        assert_eq!(q.take_due(t("22:00:00")), ["web"]);
        assert_eq!(q.running(), 2);
        // Nothing to look at until something changes.
        q.finished("web", None, t("22:01:00"));
        assert_eq!(q.next_due(), None);
        q.finished("db", None, t("22:01:00"));
        q.schedule("gone", t("23:00:00"));
        q.forget("gone");
        assert_eq!(q.next_due(), None);
    }
}
