//! The plan as a pull-request comment, read in ten seconds at any size.
//!
//! Layout: the title (`### patchwave plan`, which CI finds its comment by),
//! warnings, the summary, where the plan comes from (commit, as-of time,
//! facts' age), the legend, the cut notice when there is one, a table row per
//! group, then entries in three sections — Changes, Needs attention, No
//! changes now. An entry is the hosts of one group with identical changes
//! (the same packages from → to with the same decisions, withheld updates,
//! attention items and reboot), folded into one: `12 hosts: web-1, web-2,
//! web-3, … (+9 more)` and the shared change list once. Unknown hosts fold
//! by reason.
//!
//! Size: at most a budget of bytes ([`MARKDOWN_BUDGET`] by default). A byte
//! is never fewer than a character or a UTF-16 unit, so the budget holds
//! however a site counts (GitHub refuses comments over 65,536 characters).
//! When the whole plan does not fit, it is cut by one rule, and says so:
//!
//! 1. always: the title, warnings (at most [`MAX_WARNINGS`]), summary,
//!    provenance (with a line per vulnerability source), legend and the
//!    notice of the cut;
//! 2. then the group table's rows, in plan order, as many as fit;
//! 3. then every entry as one line (its summary), in order, as many as fit;
//!    the entries after that are counted in the notice (hosts and entries);
//! 4. then, from the first entry on, each line is unfolded into its details
//!    while they fit; the first whose details do not fit shows as many of
//!    its rows as fit (at least one, else it stays a line) and the rest
//!    stay lines: details are cut from the end.
//!
//! Every piece is whole: a cut never falls inside a character, an escape, a
//! table row or a `<details>` block; long texts (a reason, a window line)
//! are clipped to a bound between characters and end in `…`.

use std::collections::HashMap;
use std::fmt::Write as _;

use super::{
    RenderContext, as_of, commit_words, from_word, group_window, noteworthy, severity_word,
    state_name, state_word, summary_line, vulnerability_lines, zone_name,
};
use crate::plan::fleet::{GroupPlan, HostPlan, Plan};
use crate::plan::host::{PatchDecision, PatchStatus};
use crate::spec::baseline::Severity;

/// The most a Markdown plan may take, in bytes: under GitHub's 65,536
/// characters per comment, with room for the text a workflow wraps it in.
pub const MARKDOWN_BUDGET: usize = 60_000;

/// The smallest budget: what is always shown (at most about 4,000 bytes,
/// a line for each of the two vulnerability sources a Fleet can have
/// included) fits in it with room to spare.
pub const MIN_MARKDOWN_BUDGET: usize = 8_000;

/// Warnings shown at most; the others are counted.
pub const MAX_WARNINGS: usize = 3;

/// Host names in an entry's summary line; the rest are counted.
const NAMES_IN_LINE: usize = 3;
/// Host names in an entry's details; the rest are counted.
const NAMES_IN_DETAILS: usize = 100;

/// Bounds on the texts in a piece, in bytes (escaped, with the `…`).
const NAME_MAX: usize = 120;
const VERSION_MAX: usize = 120;
const REASON_MAX: usize = 400;
const WINDOW_MAX: usize = 400;
const WARNING_MAX: usize = 600;
const HOSTS_MAX: usize = 3_000;

/// Room kept for the cut notice and the table's "more groups" row.
const NOTICE_RESERVE: usize = 700;
const MORE_GROUPS_RESERVE: usize = 120;

const TABLE_HEAD: &str = "| group | hosts to change | packages | critical | important | reboots | window |\n| --- | ---: | ---: | ---: | ---: | ---: | --- |\n";
const DETAILS_HEAD: &str = "| | package | from | to | class | severity | why |\n| --- | --- | --- | --- | --- | --- | --- |\n";

/// The Markdown plan within [`MARKDOWN_BUDGET`] bytes.
pub fn markdown(plan: &Plan, ctx: &RenderContext<'_>) -> String {
    markdown_within(plan, ctx, Some(MARKDOWN_BUDGET))
}

/// The Markdown plan within `budget` bytes (raised to
/// [`MIN_MARKDOWN_BUDGET`]), or whole with `None`.
pub fn markdown_within(plan: &Plan, ctx: &RenderContext<'_>, budget: Option<usize>) -> String {
    let doc = Doc::new(plan, ctx);
    let whole = doc.assemble(&Shown::whole(&doc), None);
    let budget = match budget.map(|b| b.max(MIN_MARKDOWN_BUDGET)) {
        Some(b) if whole.len() > b => b,
        _ => return whole,
    };
    let shown = doc.fit(budget);
    let notice = doc.notice(&shown, budget);
    let out = doc.assemble(&shown, Some(&notice));
    debug_assert!(out.len() <= budget, "{} > {budget}", out.len());
    out
}

/// Which section of the comment an entry belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Section {
    Changes,
    Attention,
    NoChanges,
}

impl Section {
    const ALL: [Section; 3] = [Section::Changes, Section::Attention, Section::NoChanges];

    fn heading(self) -> &'static str {
        match self {
            Section::Changes => "#### Changes\n\n",
            Section::Attention => "#### Needs attention\n\n",
            Section::NoChanges => "#### No changes now\n\n",
        }
    }
}

/// Hosts of one group folded together: the same changes, or (unknown
/// hosts) the same reason.
struct Entry {
    section: Section,
    marker: &'static str,
    group: String,
    /// Host names with their wave (hosts to change), in plan order.
    hosts: Vec<(String, Option<usize>)>,
    /// What the entry comes to: `2 to install, reboot expected`, or an
    /// unknown host's reason (escaped, clipped).
    what: String,
    /// Its details: table rows, each whole.
    rows: Vec<String>,
}

/// How much of an entry is shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Form {
    Line,
    /// Details with this many of its rows.
    Details(usize),
}

/// What a cut keeps.
struct Shown {
    /// Group table rows shown (a prefix).
    rows: usize,
    /// Entries shown (a prefix), each as a line or with details.
    entries: Vec<Form>,
}

impl Shown {
    fn whole(doc: &Doc) -> Shown {
        Shown {
            rows: doc.table.len(),
            entries: doc
                .entries
                .iter()
                .map(|e| {
                    if e.rows.is_empty() {
                        Form::Line
                    } else {
                        Form::Details(e.rows.len())
                    }
                })
                .collect(),
        }
    }
}

/// The comment's pieces, each rendered once.
struct Doc {
    /// Title, warnings, summary, provenance, legend: always shown.
    head: String,
    table: Vec<String>,
    entries: Vec<Entry>,
    /// Per entry: its line and its details' fixed part (without rows).
    lines: Vec<String>,
    details_open: Vec<String>,
}

impl Doc {
    fn new(plan: &Plan, ctx: &RenderContext<'_>) -> Doc {
        let entries = entries(plan);
        let lines = entries.iter().map(line).collect();
        let details_open = entries.iter().map(details_open).collect();
        Doc {
            head: head(plan, ctx),
            table: plan.groups.iter().map(|g| table_row(g, ctx)).collect(),
            entries,
            lines,
            details_open,
        }
    }

    fn render(&self, i: usize, form: Form) -> String {
        let e = &self.entries[i];
        match form {
            Form::Line => self.lines[i].clone(),
            Form::Details(k) => {
                let mut out = self.details_open[i].clone();
                for r in &e.rows[..k] {
                    out.push_str(r);
                    out.push('\n');
                }
                if k < e.rows.len() {
                    out.push_str(&more_rows(e.rows.len() - k));
                    out.push('\n');
                }
                out.push_str("\n</details>");
                out
            }
        }
    }

    /// The comment: the pieces `shown` keeps, in order.
    fn assemble(&self, shown: &Shown, notice: Option<&str>) -> String {
        let mut out = self.head.clone();
        if let Some(n) = notice {
            out.push_str(n);
            out.push_str("\n\n");
        }
        out.push_str(TABLE_HEAD);
        for r in &self.table[..shown.rows] {
            out.push_str(r);
            out.push('\n');
        }
        if shown.rows < self.table.len() {
            out.push_str(&more_groups(self.table.len() - shown.rows));
            out.push('\n');
        }
        for section in Section::ALL {
            let mut first = true;
            let mut last_line = false;
            for (i, form) in shown.entries.iter().enumerate() {
                if self.entries[i].section != section {
                    continue;
                }
                let is_line = *form == Form::Line;
                if first {
                    out.push('\n');
                    out.push_str(section.heading());
                    first = false;
                } else if !(is_line && last_line) {
                    // A blank line between blocks; lines in a row make one list.
                    out.push('\n');
                }
                out.push_str(&self.render(i, *form));
                out.push('\n');
                last_line = is_line;
            }
        }
        out
    }

    /// What fits in `budget` bytes, by the rule in the module's doc. Costs
    /// are upper bounds of what [`Doc::assemble`] writes.
    fn fit(&self, budget: usize) -> Shown {
        let headings: usize = Section::ALL.iter().map(|s| s.heading().len() + 1).sum();
        let fixed = self.head.len()
            + NOTICE_RESERVE
            + 2
            + TABLE_HEAD.len()
            + MORE_GROUPS_RESERVE
            + headings;
        let mut room = budget.saturating_sub(fixed);
        let mut shown = Shown {
            rows: 0,
            entries: Vec::new(),
        };
        for r in &self.table {
            if r.len() + 1 > room {
                break;
            }
            room -= r.len() + 1;
            shown.rows += 1;
        }
        for l in &self.lines {
            // The line, its newline and a blank line before it.
            if l.len() + 2 > room {
                break;
            }
            room -= l.len() + 2;
            shown.entries.push(Form::Line);
        }
        for i in 0..shown.entries.len() {
            let e = &self.entries[i];
            if e.rows.is_empty() {
                continue;
            }
            let line = self.lines[i].len();
            let whole = self.render(i, Form::Details(e.rows.len())).len();
            if whole.saturating_sub(line) <= room {
                room -= whole.saturating_sub(line);
                shown.entries[i] = Form::Details(e.rows.len());
                continue;
            }
            // The first that does not fit whole: as many rows as fit.
            let mut size = self.details_open[i].len() + "\n</details>".len();
            let mut k = 0;
            for r in &e.rows {
                let more = more_rows(e.rows.len() - k - 1).len() + 1;
                if (size + r.len() + 1 + more).saturating_sub(line) > room {
                    break;
                }
                size += r.len() + 1;
                k += 1;
            }
            if k > 0 {
                shown.entries[i] = Form::Details(k);
            }
            break;
        }
        shown
    }

    /// Says what the cut left out and where the whole plan is.
    fn notice(&self, shown: &Shown, budget: usize) -> String {
        let hidden = &self.entries[shown.entries.len()..];
        let folded = shown
            .entries
            .iter()
            .zip(&self.entries)
            .filter(|(f, e)| match f {
                Form::Line => !e.rows.is_empty(),
                Form::Details(k) => *k < e.rows.len(),
            })
            .count();
        notice(Cut {
            budget,
            hosts: hidden.iter().map(|e| e.hosts.len()).sum(),
            entries: hidden.len(),
            folded,
            groups: self.table.len() - shown.rows,
        })
    }
}

/// What a cut left out.
struct Cut {
    budget: usize,
    /// Hosts (and entries) not shown at all.
    hosts: usize,
    entries: usize,
    /// Entries shown as a line, or with only some rows, instead of whole.
    folded: usize,
    /// Groups left out of the table.
    groups: usize,
}

fn notice(c: Cut) -> String {
    let mut parts = Vec::new();
    if c.hosts > 0 {
        parts.push(format!(
            "… {} more host{} ({} entr{}) not shown",
            thousands(c.hosts),
            plural(c.hosts),
            thousands(c.entries),
            if c.entries == 1 { "y" } else { "ies" }
        ));
    }
    if c.folded > 0 {
        parts.push(format!(
            "the details of {} entr{} folded to one line or cut short",
            thousands(c.folded),
            if c.folded == 1 { "y" } else { "ies" }
        ));
    }
    if c.groups > 0 {
        parts.push(format!(
            "{} group{} left out of the table",
            thousands(c.groups),
            plural(c.groups)
        ));
    }
    let notice = format!(
        "> [!NOTE]\n> ✂ **This plan was cut to fit {} bytes:** {}. The full plan is the CI artifact `patchwave-plan` (`plan.json`, `plan-full.md`), or run `patchwave plan --format markdown --max-bytes 0`.",
        thousands(c.budget),
        parts.join("; ")
    );
    debug_assert!(notice.len() <= NOTICE_RESERVE, "{notice}");
    notice
}

fn plural(n: usize) -> &'static str {
    if n == 1 { "" } else { "s" }
}

/// `4,812`.
fn thousands(n: usize) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

fn more_groups(n: usize) -> String {
    format!(
        "| … {} more group{} not shown | | | | | | |",
        thousands(n),
        plural(n)
    )
}

fn more_rows(n: usize) -> String {
    format!(
        "| | … | | | | | {} more row{} not shown |",
        thousands(n),
        plural(n)
    )
}

/// Title, warnings, summary, provenance and legend.
fn head(plan: &Plan, ctx: &RenderContext<'_>) -> String {
    let mut out = String::from("### patchwave plan\n\n");
    for w in plan.warnings.iter().take(MAX_WARNINGS) {
        let _ = writeln!(out, "> [!WARNING]\n> {}\n", md_clip(w, WARNING_MAX));
    }
    if plan.warnings.len() > MAX_WARNINGS {
        let n = plan.warnings.len() - MAX_WARNINGS;
        let _ = writeln!(
            out,
            "> [!WARNING]\n> … {n} more warning{}: see `plan.json`\n",
            plural(n)
        );
    }
    let _ = writeln!(out, "**{}.**\n", md(&summary_line(plan)));
    let _ = writeln!(
        out,
        "{}\n",
        md(&format!(
            "{} · {}",
            commit_words(ctx, &|c| format!("`{c}`")),
            as_of(plan, ctx)
        ))
    );
    // At most one source per format: a few bounded lines.
    let sources = vulnerability_lines(plan, ctx);
    for l in &sources {
        let _ = writeln!(
            out,
            "- {}{}{}{}",
            if l.attention { "**!** " } else { "" },
            md_clip(&l.head, NAME_MAX),
            code(&l.location, REASON_MAX),
            md(&l.tail)
        );
    }
    if !sources.is_empty() {
        out.push('\n');
    }
    let _ = writeln!(
        out,
        "<sub>`~` installs now · `=` withheld: available, not now (pending approval, rejected, not applicable) · `!` needs attention (failed install, rejected version installed, reboot pending) · `?` not planned (unreachable, scan failed, not in the facts) · times in {}</sub>\n",
        md(&zone_name(ctx.tz))
    );
    out
}

fn table_row(g: &GroupPlan, ctx: &RenderContext<'_>) -> String {
    let hosts: Vec<&HostPlan> = g.waves.iter().flat_map(|w| &w.hosts).collect();
    let count = |s: Severity| {
        hosts
            .iter()
            .flat_map(|h| &h.desired.install)
            .filter(|c| c.decision.compliance_level == s)
            .count()
    };
    format!(
        "| {} | {} | {} | {} | {} | {} | {} |",
        md_clip(&g.group, NAME_MAX),
        hosts.len(),
        hosts.iter().map(|h| h.desired.install.len()).sum::<usize>(),
        count(Severity::Critical),
        count(Severity::Important),
        hosts.iter().filter(|h| h.desired.reboot_expected).count(),
        md_clip(&group_window(g, ctx.tz), WINDOW_MAX),
    )
}

/// Every entry, by section, then in plan order (groups, waves, hosts).
fn entries(plan: &Plan) -> Vec<Entry> {
    let mut sections: [Vec<Entry>; 3] = [Vec::new(), Vec::new(), Vec::new()];
    for g in &plan.groups {
        let mut folds = Folds::default();
        for w in &g.waves {
            for h in &w.hosts {
                folds.add(g, h, Some(w.number), Section::Changes);
            }
        }
        for h in g.unchanged.iter().filter(|h| noteworthy(h)) {
            let section = if h.desired.attention.is_empty() {
                Section::NoChanges
            } else {
                Section::Attention
            };
            folds.add(g, h, None, section);
        }
        for u in &g.unknown {
            folds.add_unknown(g, &u.host, &u.reason);
        }
        for e in folds.entries {
            let at = Section::ALL
                .iter()
                .position(|s| *s == e.section)
                .unwrap_or(0);
            sections[at].push(e);
        }
    }
    sections.into_iter().flatten().collect()
}

/// Hosts of one group folded by what they share.
#[derive(Default)]
struct Folds {
    entries: Vec<Entry>,
    by_key: HashMap<String, usize>,
}

impl Folds {
    fn add(&mut self, g: &GroupPlan, h: &HostPlan, wave: Option<usize>, section: Section) {
        let d = &h.desired;
        // Identical: the same decisions on the same packages, from and to
        // the same versions, the same attention items and reboot.
        let key =
            serde_json::to_string(&(&d.install, &d.withheld, &d.attention, d.reboot_expected))
                .unwrap_or_else(|_| h.host.clone());
        if let Some(&i) = self.by_key.get(&key) {
            self.entries[i].hosts.push((h.host.clone(), wave));
            return;
        }
        let mut what = Vec::new();
        if !d.install.is_empty() {
            what.push(format!("{} to install", d.install.len()));
        }
        if !d.withheld.is_empty() {
            what.push(format!("{} withheld", d.withheld.len()));
        }
        if !d.attention.is_empty() {
            what.push(format!(
                "{} need{} attention",
                d.attention.len(),
                if d.attention.len() == 1 { "s" } else { "" }
            ));
        }
        if d.reboot_expected {
            what.push("reboot expected".into());
        }
        let rows = d
            .install
            .iter()
            .map(|c| {
                // First: a long reason is clipped, the deadline must stay.
                let why = match super::urgency(c) {
                    Some(u) => format!("{u}; {}", c.decision.reason),
                    None => c.decision.reason.clone(),
                };
                change_row("~", c, &why)
            })
            .chain(d.withheld.iter().map(|c| {
                let until = c
                    .decision
                    .approved_on
                    .map(|d| format!(" until {d}"))
                    .unwrap_or_default();
                let urgent = super::urgency(c)
                    .map(|u| format!("{u}; "))
                    .unwrap_or_default();
                let why = format!(
                    "{urgent}{}{until}: {}",
                    state_word(c.decision.state),
                    c.decision.reason
                );
                change_row("=", c, &why)
            }))
            .chain(d.attention.iter().map(attention_row))
            .collect();
        self.by_key.insert(key, self.entries.len());
        self.entries.push(Entry {
            section,
            marker: match section {
                Section::Changes => "~",
                Section::Attention => "!",
                Section::NoChanges => "=",
            },
            group: g.group.clone(),
            hosts: vec![(h.host.clone(), wave)],
            what: md(&what.join(", ")),
            rows,
        });
    }

    fn add_unknown(&mut self, g: &GroupPlan, host: &str, reason: &str) {
        let key = format!("?{reason}");
        if let Some(&i) = self.by_key.get(&key) {
            self.entries[i].hosts.push((host.to_string(), None));
            return;
        }
        self.by_key.insert(key, self.entries.len());
        self.entries.push(Entry {
            section: Section::Attention,
            marker: "?",
            group: g.group.clone(),
            hosts: vec![(host.to_string(), None)],
            what: md_clip(reason, REASON_MAX),
            rows: Vec::new(),
        });
    }
}

fn change_row(marker: &str, c: &PatchDecision, why: &str) -> String {
    format!(
        "| `{marker}` | {} | {} | {} | {} | {} | {} |",
        md_clip(&c.name, NAME_MAX),
        code(from_word(c), VERSION_MAX),
        code(&c.to, VERSION_MAX),
        format!("{:?}", c.classification).to_lowercase(),
        severity_word(c.decision.compliance_level),
        md_clip(why, REASON_MAX)
    )
}

fn attention_row(a: &PatchStatus) -> String {
    format!(
        "| `!` | {} | {} | — | | | {} |",
        md_clip(&a.name, NAME_MAX),
        code(&a.version, VERSION_MAX),
        md_clip(
            &format!("{}: {}", state_name(a.state), a.reason),
            REASON_MAX
        )
    )
}

/// The waves an entry's hosts are in, in order.
fn wave_numbers(e: &Entry) -> Vec<usize> {
    let mut w: Vec<usize> = e.hosts.iter().filter_map(|(_, w)| *w).collect();
    w.sort_unstable();
    w.dedup();
    w
}

/// ` · wave 1`, ` · waves 1–3`, ` · waves 1, 3`; empty for hosts outside waves.
fn waves(e: &Entry) -> String {
    let w = wave_numbers(e);
    match w.as_slice() {
        [] => String::new(),
        [one] => format!(" · wave {one}"),
        [first, .., last] if last - first + 1 == w.len() => format!(" · waves {first}–{last}"),
        _ => format!(
            " · waves {}",
            w.iter()
                .map(usize::to_string)
                .collect::<Vec<_>>()
                .join(", ")
        ),
    }
}

/// `12 hosts: web-1, web-2, web-3, … (+9 more)`.
fn host_names(e: &Entry) -> String {
    let n = e.hosts.len();
    let mut out = format!("{} host{}: ", thousands(n), plural(n));
    let mut listed = 0;
    for (h, _) in e.hosts.iter().take(NAMES_IN_LINE) {
        if listed > 0 {
            out.push_str(", ");
        }
        out.push_str(&md_clip(h, NAME_MAX));
        listed += 1;
    }
    if listed < n {
        let _ = write!(out, ", … (+{} more)", thousands(n - listed));
    }
    out
}

/// Every host (up to a bound), by wave: `wave 1: web-1 · wave 2: web-2, web-3, … (+9 more)`.
fn hosts_by_wave(e: &Entry) -> String {
    let mut out = String::new();
    let mut wave = None;
    let mut listed = 0;
    for (h, w) in e.hosts.iter().take(NAMES_IN_DETAILS) {
        let name = md_clip(h, NAME_MAX);
        if out.len() + name.len() + 20 > HOSTS_MAX {
            break;
        }
        if *w != wave || listed == 0 {
            if listed > 0 {
                out.push_str(" · ");
            }
            if let Some(n) = w {
                let _ = write!(out, "wave {n}: ");
            }
            wave = *w;
        } else {
            out.push_str(", ");
        }
        out.push_str(&name);
        listed += 1;
    }
    if listed < e.hosts.len() {
        let _ = write!(out, ", … (+{} more)", thousands(e.hosts.len() - listed));
    }
    out
}

/// The entry as one line of a list (its summary).
fn line(e: &Entry) -> String {
    format!(
        "- `{}` **{}** · {}{} · {}",
        e.marker,
        md_clip(&e.group, NAME_MAX),
        host_names(e),
        waves(e),
        e.what
    )
}

/// The entry's `<details>` up to its rows: the summary, every host (up to
/// a bound) with its wave, and the table's head.
fn details_open(e: &Entry) -> String {
    let mut out = format!(
        "<details><summary><code>{}</code> <b>{}</b> · {}{} · {}</summary>\n\n",
        e.marker,
        md_clip(&e.group, NAME_MAX),
        host_names(e),
        waves(e),
        e.what
    );
    if e.hosts.len() > NAMES_IN_LINE || wave_numbers(e).len() > 1 {
        let _ = writeln!(out, "{}\n", hosts_by_wave(e));
    }
    out.push_str(DETAILS_HEAD);
    out
}

/// Escapes text for a Markdown table cell, list item or HTML summary.
fn md(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '|' => out.push_str("\\|"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '\n' | '\r' => out.push(' '),
            c => out.push(c),
        }
    }
    out
}

/// [`md`], at most `max` bytes: cut between characters (never inside an
/// escape), ending in `…`.
fn md_clip(s: &str, max: usize) -> String {
    let whole = md(s);
    if whole.len() <= max {
        return whole;
    }
    let mut out = String::new();
    let mut buf = [0u8; 4];
    for c in s.chars() {
        let e = md(c.encode_utf8(&mut buf));
        if out.len() + e.len() + '…'.len_utf8() > max {
            break;
        }
        out.push_str(&e);
    }
    out.push('…');
    out
}

/// A code span for a table cell (a version): fenced with more backticks
/// than it holds, `|` escaped, at most about `max` bytes.
fn code(s: &str, max: usize) -> String {
    let mut text: String = s
        .chars()
        .map(|c| if c == '\n' || c == '\r' { ' ' } else { c })
        .collect();
    if text.len() > max {
        let mut end = max.saturating_sub('…'.len_utf8());
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        text.truncate(end);
        text.push('…');
    }
    let text = text.replace('|', "\\|");
    let mut run = 0;
    let mut longest = 0;
    for c in text.chars() {
        run = if c == '`' { run + 1 } else { 0 };
        longest = longest.max(run);
    }
    let fence = "`".repeat(longest + 1);
    let pad = if text.starts_with('`') || text.ends_with('`') {
        " "
    } else {
        ""
    };
    format!("{fence}{pad}{text}{pad}{fence}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clipping_never_splits_a_character_or_an_escape() {
        let s = "ä|<b>€🚫".repeat(50);
        for max in 3..120 {
            let c = md_clip(&s, max);
            assert!(c.len() <= max, "{max}: {c}");
            assert!(c.ends_with('…'));
            // Whole escapes only: every `&` starts `&lt;` or `&gt;`.
            let body = c.trim_end_matches('…');
            assert!(
                !body.ends_with('\\') && !body.ends_with('&') && !body.contains("&l…"),
                "{c}"
            );
            assert_eq!(body.matches('&').count(), body.matches(';').count(), "{c}");
        }
        assert_eq!(md_clip("a|b", 10), "a\\|b");
    }

    #[test]
    fn code_spans_hold_backticks_and_pipes() {
        assert_eq!(code("1.0-1", 50), "`1.0-1`");
        assert_eq!(code("a`b", 50), "``a`b``");
        assert_eq!(code("`x", 50), "`` `x ``");
        assert_eq!(code("a|b", 50), "`a\\|b`");
        let long = code(&"é".repeat(100), 21);
        assert_eq!(long, format!("`{}…`", "é".repeat(9)));
    }

    #[test]
    fn thousands_are_separated() {
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(1000), "1,000");
        assert_eq!(thousands(4_812_345), "4,812,345");
    }

    #[test]
    fn the_longest_notice_fits_its_reserve() {
        let n = usize::MAX;
        let longest = notice(Cut {
            budget: n,
            hosts: n,
            entries: n,
            folded: n,
            groups: n,
        });
        assert!(longest.len() <= NOTICE_RESERVE, "{}", longest.len());
        assert!(
            longest.contains("more hosts")
                && longest.contains("folded")
                && longest.contains("groups left out")
        );
    }

    #[test]
    fn the_longest_head_fits_the_smallest_budget() {
        use crate::vuln::{DataOrigin, DataState, VulnerabilityData};
        let at: jiff::Timestamp = "2026-12-02T10:00:00Z".parse().unwrap();
        let source = |format| VulnerabilityData {
            name: "n".repeat(1000),
            format,
            origin: DataOrigin::Url,
            location: format!("https://example.com/{}", "|<`".repeat(1000)),
            state: DataState::LastGood,
            fetched_at: Some(at),
            checked_at: Some(at),
            sha256: Some("0".repeat(64)),
            stale: true,
        };
        let plan = Plan {
            version: 1,
            generated_at: at,
            commit: Some("f".repeat(40)),
            summary: Default::default(),
            facts: Default::default(),
            vulnerability_data: vec![
                source(crate::spec::fleet::VulnerabilityFormat::DebianTracker),
                source(crate::spec::fleet::VulnerabilityFormat::CisaKev),
            ],
            warnings: vec!["<|>".repeat(5000); 9],
            groups: vec![],
        };
        let tz = jiff::tz::TimeZone::get("America/Argentina/ComodRivadavia").unwrap();
        let ctx = RenderContext {
            commit: plan.commit.as_deref(),
            tz: &tz,
        };
        let h = head(&plan, &ctx);
        assert!(h.len() <= 4_000, "{}", h.len());
        assert!(
            h.len() + NOTICE_RESERVE + MORE_GROUPS_RESERVE + TABLE_HEAD.len() < MIN_MARKDOWN_BUDGET
        );
        assert_eq!(h.matches("\n- **!** vulnerability data ").count(), 2, "{h}");
    }
}
