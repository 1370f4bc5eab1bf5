//! The error budget, stated exactly (PRODUCT.md): errors count over the
//! group's whole rollout, not per wave; the rollout halts when errors
//! *exceed* `maxErrors` (`maxErrors: 0` halts on the first error); a
//! percentage is of the group's hosts in the plan, rounded down; each host
//! counts at most one error; a wave in which every host failed halts the
//! rollout whatever the budget.

use std::collections::BTreeSet;

use crate::spec::common::CountOrPercent;

/// Errors so far and the limit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ErrorBudget {
    max: usize,
    failed: BTreeSet<String>,
}

impl ErrorBudget {
    /// `max_errors` unset means 0: the first error halts.
    pub fn new(max_errors: Option<&CountOrPercent>, hosts_in_plan: usize) -> ErrorBudget {
        ErrorBudget {
            max: max_errors.map_or(0, |m| m.of(hosts_in_plan)),
            failed: BTreeSet::new(),
        }
    }

    /// Counts a failed host (once, whatever failed).
    pub fn fail(&mut self, host: &str) {
        self.failed.insert(host.to_string());
    }

    pub fn errors(&self) -> usize {
        self.failed.len()
    }

    pub fn max(&self) -> usize {
        self.max
    }

    /// Whether the rollout must stop starting hosts.
    pub fn exceeded(&self) -> bool {
        self.failed.len() > self.max
    }
}

/// A wave in which every host that ran failed halts the rollout whatever the budget.
pub fn wave_failed_entirely(ran: usize, failed: usize) -> bool {
    ran > 0 && failed == ran
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn halts_only_when_errors_exceed_the_budget() {
        let mut b = ErrorBudget::new(None, 10);
        assert!(!b.exceeded());
        b.fail("a");
        assert!(b.exceeded(), "maxErrors unset = 0: the first error halts");

        let mut b = ErrorBudget::new(Some(&CountOrPercent::Count(1)), 10);
        b.fail("a");
        b.fail("a");
        assert_eq!(b.errors(), 1, "a host counts once");
        assert!(!b.exceeded());
        b.fail("b");
        assert!(b.exceeded());

        // 25% of 6 hosts rounds down to 1.
        let mut b = ErrorBudget::new(Some(&CountOrPercent::Percent(25)), 6);
        assert_eq!(b.max(), 1);
        b.fail("a");
        assert!(!b.exceeded());
        assert!(wave_failed_entirely(1, 1));
        assert!(!wave_failed_entirely(2, 1));
        assert!(!wave_failed_entirely(0, 0));
    }
}
