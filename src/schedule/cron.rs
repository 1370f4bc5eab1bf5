//! Five-field cron expressions for maintenance windows.
//!
//! `minute hour day-of-month month day-of-week`, evaluated on *civil*
//! (wall-clock) dates and times. Time zones are deliberately the caller's job:
//! a maintenance window means "22:00 local time", and only the caller knows
//! which zone is local and how to resolve DST gaps and folds.
//!
//! Beyond classic Vixie cron this accepts the Quartz-style day rules that
//! maintenance windows actually need: `L` (last day of the month), `TUE#2`
//! (second Tuesday, i.e. Patch Tuesday) and `FRIL` (last Friday), plus `?` as
//! an alias for `*` in the day fields. A seconds field is rejected rather than
//! guessed at, because silently shifting every field by one is far worse than
//! an error.

use std::fmt;

use jiff::civil::{Date, Time};

/// A parsed cron expression.
///
/// Every field is stored as a bitset (bit `n` set = value `n` allowed), which
/// makes matching a handful of shifts and masks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CronSchedule {
    /// The trimmed source text, kept so `Display` shows what the user wrote.
    text: String,
    minutes: u64,
    hours: u64,
    /// Bits 1-31.
    days_of_month: u64,
    /// `L` in day-of-month.
    last_day_of_month: bool,
    /// Bits 1-12.
    months: u64,
    /// Bits 0-6, Sunday = 0 (`7` is folded onto 0 at parse time).
    days_of_week: u64,
    /// `X#n`: per weekday (Sunday = index 0), bit `n` set for the n-th occurrence.
    nth_weekdays: [u64; 7],
    /// `XL`: bit per weekday (Sunday = 0) whose last occurrence matches.
    last_weekdays: u64,
    /// Day-of-month is something other than `*`/`?`.
    dom_restricted: bool,
    /// Day-of-week is something other than `*`/`?`.
    dow_restricted: bool,
}

/// Where and why a cron expression is invalid.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CronError {
    /// Byte offset into the expression where the offending field/token starts
    /// (0 for whole-expression problems such as a wrong field count).
    pub offset: usize,
    /// Human message naming the field, e.g.
    /// "day-of-week `TUE#6`: the occurrence after # must be 1-5".
    pub message: String,
}

impl fmt::Display for CronError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} (at byte {})", self.message, self.offset)
    }
}

impl std::error::Error for CronError {}

impl fmt::Display for CronSchedule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

/// Longest possible length of each month; February counts 29 because a
/// schedule that only fires on leap days is rare but real.
const MAX_MONTH_LENGTH: [u32; 12] = [31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];

const MONTH_NAMES: [&str; 12] = [
    "JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC",
];
const WEEKDAY_NAMES: [&str; 7] = ["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"];

/// Macro name and the expression it stands for.
const MACROS: [(&str, &str); 7] = [
    ("@yearly", "0 0 1 1 *"),
    ("@annually", "0 0 1 1 *"),
    ("@monthly", "0 0 1 * *"),
    ("@weekly", "0 0 * * 0"),
    ("@daily", "0 0 * * *"),
    ("@midnight", "0 0 * * *"),
    ("@hourly", "0 * * * *"),
];

impl CronSchedule {
    /// Parses a 5-field expression or one of the `@` macros.
    ///
    /// Leading/trailing whitespace is ignored (YAML block scalars love to add
    /// a trailing newline); fields are separated by spaces or tabs.
    pub fn parse(expr: &str) -> Result<CronSchedule, CronError> {
        let text = expr.trim();
        let lead = expr.len() - expr.trim_start().len();
        if text.is_empty() {
            return Err(CronError {
                offset: 0,
                message: "cron expression is empty".to_string(),
            });
        }
        let fields = if text.starts_with('@') {
            split_fields(expand_macro(text, lead)?, lead)
        } else {
            split_fields(text, lead)
        };
        let [minute, hour, dom, month, dow]: [(usize, &str); 5] =
            fields.try_into().map_err(|found: Vec<_>| CronError {
                offset: 0,
                message: field_count_message(found.len()),
            })?;

        let minute = parse_field(Field::Minute, minute)?;
        let hour = parse_field(Field::Hour, hour)?;
        let dom = parse_field(Field::DayOfMonth, dom)?;
        let month = parse_field(Field::Month, month)?;
        let dow = parse_field(Field::DayOfWeek, dow)?;

        // 7 is just another spelling of Sunday.
        let days_of_week = (dow.bits & 0x7f) | ((dow.bits >> 7) & 1);
        Ok(CronSchedule {
            text: text.to_string(),
            minutes: minute.bits,
            hours: hour.bits,
            days_of_month: dom.bits,
            last_day_of_month: dom.last_day,
            months: month.bits,
            days_of_week,
            nth_weekdays: dow.nth_weekdays,
            last_weekdays: dow.last_weekdays,
            dom_restricted: dom.restricted,
            dow_restricted: dow.restricted,
        })
    }

    /// Does the schedule fire on this civil date (day-of-month/month/day-of-week rules)?
    ///
    /// When both day fields are restricted, either one matching is enough
    /// (Vixie/POSIX semantics); otherwise the restricted one decides.
    pub fn matches_date(&self, date: Date) -> bool {
        if !has(self.months, date.month()) {
            return false;
        }
        match (self.dom_restricted, self.dow_restricted) {
            (true, true) => self.dom_matches(date) || self.dow_matches(date),
            (true, false) => self.dom_matches(date),
            (false, true) => self.dow_matches(date),
            (false, false) => true,
        }
    }

    /// The times of day (hour, minute, second 0) at which it fires on a matching date, ascending.
    pub fn times_of_day(&self) -> impl Iterator<Item = Time> + '_ {
        (0..24i8)
            .filter(move |&h| has(self.hours, h))
            .flat_map(move |h| {
                (0..60i8)
                    .filter(move |&m| has(self.minutes, m))
                    .filter_map(move |m| Time::new(h, m, 0, 0).ok())
            })
    }

    /// True when both day-of-month and day-of-week are restricted (neither `*` nor `?`), so the
    /// schedule fires when EITHER matches (Vixie cron semantics) -- the caller warns users about it.
    ///
    /// "Restricted" is judged on the text, not the resulting set: `*/2` and
    /// `1-31` count as restricted, as in POSIX cron.
    pub fn day_fields_both_restricted(&self) -> bool {
        self.dom_restricted && self.dow_restricted
    }

    /// False when the schedule can never fire on any real date (e.g. `0 0 30 2 *`, `0 0 31 4,6 *`).
    ///
    /// Exact without iterating years: any day-of-week rule matches somewhere in
    /// every month over time (`#5` in February needs a leap year whose Feb 29
    /// falls on that weekday, which the 400-year cycle provides), and `L`
    /// always exists. So only a day-of-month-only schedule can be impossible,
    /// and that is decided by the longest length of each allowed month.
    pub fn can_ever_match(&self) -> bool {
        if self.months & MONTH_BITS == 0 {
            return false;
        }
        if self.dow_restricted || !self.dom_restricted || self.last_day_of_month {
            return true;
        }
        MAX_MONTH_LENGTH
            .iter()
            .zip(1u32..)
            .filter(|&(_, month)| self.months & (1 << month) != 0)
            .any(|(&len, _)| self.days_of_month & days_up_to(len) != 0)
    }

    /// The next matching civil date on or after `from`, searching at most `max_days` days; None if none.
    ///
    /// Exactly `max_days` dates are examined starting with `from` itself, so
    /// `0` never finds anything and `1` only checks `from`. Months the
    /// schedule excludes are skipped wholesale, which keeps multi-year
    /// searches (e.g. for `0 0 29 2 MON` style rules) cheap.
    pub fn next_matching_date(&self, from: Date, max_days: u32) -> Option<Date> {
        if !self.can_ever_match() {
            return None;
        }
        let mut date = from;
        let mut remaining = i64::from(max_days);
        while remaining > 0 {
            if !has(self.months, date.month()) {
                remaining -= i64::from(date.days_in_month() - date.day() + 1);
                date = date.last_of_month().tomorrow().ok()?;
                continue;
            }
            if self.matches_date(date) {
                return Some(date);
            }
            remaining -= 1;
            date = date.tomorrow().ok()?;
        }
        None
    }

    fn dom_matches(&self, date: Date) -> bool {
        has(self.days_of_month, date.day())
            || (self.last_day_of_month && date.day() == date.days_in_month())
    }

    fn dow_matches(&self, date: Date) -> bool {
        let weekday = date.weekday().to_sunday_zero_offset();
        let day = date.day();
        let occurrence = (day - 1) / 7 + 1;
        has(self.days_of_week, weekday)
            || self
                .nth_weekdays
                .get(usize::from(weekday.unsigned_abs()))
                .is_some_and(|&nth| has(nth, occurrence))
            || (has(self.last_weekdays, weekday) && day + 7 > date.days_in_month())
    }
}

/// Bits 1-12.
const MONTH_BITS: u64 = 0x1ffe;

/// Bits 1..=`len`.
fn days_up_to(len: u32) -> u64 {
    ((1u64 << (len + 1)) - 1) & !1
}

/// Is bit `value` set? Out-of-range values are simply "not set".
fn has(bits: u64, value: i8) -> bool {
    u32::try_from(value)
        .ok()
        .and_then(|shift| bits.checked_shr(shift))
        .is_some_and(|b| b & 1 == 1)
}

/// Splits on runs of spaces/tabs, remembering each field's byte offset.
fn split_fields(text: &str, base: usize) -> Vec<(usize, &str)> {
    let mut fields = Vec::new();
    let mut start = None;
    for (i, b) in text.bytes().enumerate() {
        if b == b' ' || b == b'\t' {
            if let Some(s) = start.take() {
                fields.push((base + s, &text[s..i]));
            }
        } else if start.is_none() {
            start = Some(i);
        }
    }
    if let Some(s) = start {
        fields.push((base + s, &text[s..]));
    }
    fields
}

fn expand_macro(text: &str, offset: usize) -> Result<&'static str, CronError> {
    let word = text.split([' ', '\t']).next().unwrap_or(text);
    let error = |message: String| Err(CronError { offset, message });
    if word.eq_ignore_ascii_case("@reboot") {
        return error("@reboot has no time; maintenance windows need a schedule".to_string());
    }
    let Some(&(_, expansion)) = MACROS
        .iter()
        .find(|(name, _)| name.eq_ignore_ascii_case(word))
    else {
        return error(format!(
            "unknown macro `{word}`; expected one of @yearly, @annually, @monthly, \
             @weekly, @daily, @midnight, @hourly"
        ));
    };
    if word.len() != text.len() {
        return error(format!("macro `{word}` must be the whole expression"));
    }
    Ok(expansion)
}

fn field_count_message(found: usize) -> String {
    let base =
        format!("expected 5 fields (minute hour day-of-month month day-of-week) but found {found}");
    match found {
        6 => format!("{base}; a seconds field is not supported"),
        7 => format!("{base}; seconds and year fields are not supported"),
        _ => base,
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Field {
    Minute,
    Hour,
    DayOfMonth,
    Month,
    DayOfWeek,
}

impl Field {
    fn name(self) -> &'static str {
        match self {
            Field::Minute => "minute",
            Field::Hour => "hour",
            Field::DayOfMonth => "day-of-month",
            Field::Month => "month",
            Field::DayOfWeek => "day-of-week",
        }
    }

    /// Smallest and largest number a user may write.
    fn bounds(self) -> (u32, u32) {
        match self {
            Field::Minute => (0, 59),
            Field::Hour => (0, 23),
            Field::DayOfMonth => (1, 31),
            Field::Month => (1, 12),
            Field::DayOfWeek => (0, 7),
        }
    }

    /// What `*` covers; day-of-week stops at 6 because 7 only re-spells Sunday.
    fn star(self) -> (u32, u32) {
        match self {
            Field::DayOfWeek => (0, 6),
            other => other.bounds(),
        }
    }

    /// Number of distinct values, the largest sensible step.
    fn span(self) -> u32 {
        let (lo, hi) = self.star();
        hi - lo + 1
    }

    fn allowed(self) -> &'static str {
        match self {
            Field::Minute => "0-59",
            Field::Hour => "0-23",
            Field::DayOfMonth => "1-31 or L",
            Field::Month => "1-12 or JAN-DEC",
            Field::DayOfWeek => "0-7 or SUN-SAT",
        }
    }

    /// Names and the value of the first name.
    fn names(self) -> (&'static [&'static str], u32) {
        match self {
            Field::Month => (&MONTH_NAMES, 1),
            Field::DayOfWeek => (&WEEKDAY_NAMES, 0),
            _ => (&[], 0),
        }
    }

    fn is_day(self) -> bool {
        matches!(self, Field::DayOfMonth | Field::DayOfWeek)
    }
}

/// One parsed field; the day-only parts stay empty for other fields.
#[derive(Debug, Default)]
struct ParsedField {
    bits: u64,
    restricted: bool,
    last_day: bool,
    nth_weekdays: [u64; 7],
    last_weekdays: u64,
}

fn field_error(offset: usize, field: Field, token: &str, problem: &str) -> CronError {
    CronError {
        offset,
        message: format!("{} `{token}`: {problem}", field.name()),
    }
}

fn parse_field(field: Field, (offset, text): (usize, &str)) -> Result<ParsedField, CronError> {
    let mut parsed = ParsedField::default();
    if text == "*" || (text == "?" && field.is_day()) {
        let (lo, hi) = field.star();
        parsed.bits = range_bits(lo, hi, 1);
        return Ok(parsed);
    }
    parsed.restricted = true;
    let mut item_offset = offset;
    for item in text.split(',') {
        if item.is_empty() {
            return Err(field_error(item_offset, field, text, "empty list item"));
        }
        parse_item(field, item, &mut parsed)
            .map_err(|problem| field_error(item_offset, field, item, &problem))?;
        item_offset += item.len() + 1;
    }
    Ok(parsed)
}

/// Parses one comma-separated item into `parsed`; the error is the bare
/// problem, the caller adds field, token and offset.
fn parse_item(field: Field, item: &str, parsed: &mut ParsedField) -> Result<(), String> {
    if item == "?" {
        return Err(if field.is_day() {
            "`?` must be the whole field, not part of a list".to_string()
        } else {
            "`?` is only allowed in day-of-month and day-of-week".to_string()
        });
    }
    match field {
        Field::DayOfMonth if parse_last_day(item)? => {
            parsed.last_day = true;
            return Ok(());
        }
        Field::DayOfWeek if parse_special_weekday(item, parsed)? => return Ok(()),
        _ => {}
    }

    let (base, step) = match item.split_once('/') {
        Some((base, step)) => (base, Some(parse_step(field, step)?)),
        None => (item, None),
    };
    let (lo, hi) = if base == "*" {
        field.star()
    } else if let Some((start, end)) = base.split_once('-') {
        if start.is_empty() {
            return Err(format!("range `{base}` is missing its start"));
        }
        if end.is_empty() {
            return Err(format!("range `{base}` is missing its end"));
        }
        if end.contains('-') {
            return Err(format!("range `{base}` has more than one `-`"));
        }
        let lo = parse_value(field, start)?;
        let mut hi = parse_value(field, end)?;
        // `SAT-SUN` reads naturally as the weekend; SUN is 0, so treat a
        // trailing SUN name as 7. (A numeric `6-0` stays an error.)
        if field == Field::DayOfWeek && hi == 0 && lo > 0 && end.eq_ignore_ascii_case("SUN") {
            hi = 7;
        }
        if lo > hi {
            return Err(format!("range {base} is backwards"));
        }
        (lo, hi)
    } else {
        let value = parse_value(field, base)?;
        // `a/n` runs from `a` to the end of the field.
        match step {
            Some(_) => (value, field.star().1.max(value)),
            None => (value, value),
        }
    };
    parsed.bits |= range_bits(lo, hi, step.unwrap_or(1));
    Ok(())
}

/// Day-of-month `L`. Returns Ok(false) when `item` is not an `L`/`W` form.
fn parse_last_day(item: &str) -> Result<bool, String> {
    if item.eq_ignore_ascii_case("L") {
        return Ok(true);
    }
    let upper = item.to_ascii_uppercase();
    let is_day_like = |s: &str| s.bytes().all(|b| b.is_ascii_digit() || b == b'L');
    if let Some(rest) = upper.strip_suffix('W')
        && is_day_like(rest)
    {
        return Err("`W` (nearest weekday) is not supported".to_string());
    }
    if upper.contains('L')
        && upper
            .bytes()
            .all(|b| b.is_ascii_digit() || b"L-/*".contains(&b))
    {
        return Err(
            "`L` (last day of the month) must stand alone; ranges, steps and offsets \
             like `L-3` are not supported"
                .to_string(),
        );
    }
    Ok(false)
}

/// Day-of-week `X#n` and `XL`. Returns Ok(false) when `item` is neither.
fn parse_special_weekday(item: &str, parsed: &mut ParsedField) -> Result<bool, String> {
    let has_range_or_step = |s: &str| s.contains(['-', '/', '*']);
    if let Some((day, occurrence)) = item.split_once('#') {
        if has_range_or_step(item) {
            return Err("`#` cannot be combined with a range, step or `*`".to_string());
        }
        let weekday = parse_value(Field::DayOfWeek, day)?;
        let n = occurrence
            .parse::<u32>()
            .ok()
            .filter(|n| (1..=5).contains(n) && occurrence.bytes().all(|b| b.is_ascii_digit()))
            .ok_or_else(|| "the occurrence after # must be 1-5".to_string())?;
        parsed.nth_weekdays[weekday_index(weekday)] |= 1 << n;
        return Ok(true);
    }
    if !item.contains(['L', 'l']) {
        return Ok(false);
    }
    if has_range_or_step(item) {
        return Err("`L` (last weekday) cannot be combined with a range, step or `*`".to_string());
    }
    if item.eq_ignore_ascii_case("L") {
        return Err(
            "`L` needs a weekday before it in day-of-week, e.g. `FRIL` for the last Friday"
                .to_string(),
        );
    }
    // No weekday name contains an L, so anything else with an L that is not
    // `XL` is an unknown name and gets that message from parse_value.
    let Some(day) = item.strip_suffix(['L', 'l']) else {
        return Ok(false);
    };
    let weekday = parse_value(Field::DayOfWeek, day)?;
    parsed.last_weekdays |= 1 << weekday_index(weekday);
    Ok(true)
}

/// Sunday-zero index of a parsed weekday value (0-7).
fn weekday_index(value: u32) -> usize {
    // Values are at most 7, so the conversion cannot fail; 0 keeps it total.
    usize::try_from(value % 7).unwrap_or(0)
}

fn parse_step(field: Field, step: &str) -> Result<u32, String> {
    let span = field.span();
    if step.is_empty() {
        return Err("the step after `/` is missing".to_string());
    }
    if step.contains('/') {
        return Err("only one `/` step is allowed".to_string());
    }
    if !step.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!("step `{step}` is not a number"));
    }
    step.parse::<u32>()
        .ok()
        .filter(|n| (1..=span).contains(n))
        .ok_or_else(|| format!("step must be 1-{span}"))
}

fn parse_value(field: Field, text: &str) -> Result<u32, String> {
    let (lo, hi) = field.bounds();
    let allowed = field.allowed();
    if text.is_empty() {
        return Err(format!("a value is missing (allowed: {allowed})"));
    }
    if text.bytes().all(|b| b.is_ascii_digit()) {
        return text
            .parse::<u32>()
            .ok()
            .filter(|v| (lo..=hi).contains(v))
            .ok_or_else(|| format!("{text} is out of range (allowed: {allowed})"));
    }
    let (names, first) = field.names();
    if !names.is_empty() && text.bytes().all(|b| b.is_ascii_alphabetic()) {
        return names
            .iter()
            .zip(first..)
            .find(|(name, _)| name.eq_ignore_ascii_case(text))
            .map(|(_, value)| value)
            .ok_or_else(|| {
                format!(
                    "unknown {} name `{text}` (allowed: {allowed})",
                    field.name()
                )
            });
    }
    Err(format!(
        "`{text}` is not a valid value (allowed: {allowed})"
    ))
}

/// Bits `lo, lo+step, ...` up to `hi`; callers guarantee `hi < 64`, `step >= 1`.
fn range_bits(lo: u32, hi: u32, step: u32) -> u64 {
    let mut bits = 0u64;
    let mut value = lo;
    while value <= hi && value < 64 {
        bits |= 1 << value;
        value += step.max(1);
    }
    bits
}

#[cfg(test)]
mod tests {
    use super::*;
    use jiff::civil::{Weekday, date, time};

    fn parse(expr: &str) -> CronSchedule {
        match CronSchedule::parse(expr) {
            Ok(schedule) => schedule,
            Err(e) => panic!("{expr:?} should parse: {e}"),
        }
    }

    /// Every date from `start` for `days` days.
    fn days_from(start: Date, days: usize) -> impl Iterator<Item = Date> {
        start.series(jiff::Span::new().days(1)).take(days)
    }

    fn matching_in_year(expr: &str, year: i16) -> Vec<Date> {
        let schedule = parse(expr);
        days_from(date(year, 1, 1), 366)
            .filter(|d| d.year() == year && schedule.matches_date(*d))
            .collect()
    }

    fn times(expr: &str) -> Vec<Time> {
        parse(expr).times_of_day().collect()
    }

    #[test]
    fn patch_tuesday() {
        let s = parse("0 22 * * TUE#2");
        assert!(s.matches_date(date(2026, 12, 8)));
        assert!(!s.matches_date(date(2026, 12, 1)));
        assert!(!s.matches_date(date(2026, 12, 15)));
        assert_eq!(
            s.next_matching_date(date(2026, 12, 1), 31),
            Some(date(2026, 12, 8))
        );
        assert_eq!(s.times_of_day().collect::<Vec<_>>(), [time(22, 0, 0, 0)]);
        assert!(!s.day_fields_both_restricted());

        let expected = [
            date(2026, 1, 13),
            date(2026, 2, 10),
            date(2026, 3, 10),
            date(2026, 4, 14),
            date(2026, 5, 12),
            date(2026, 6, 9),
            date(2026, 7, 14),
            date(2026, 8, 11),
            date(2026, 9, 8),
            date(2026, 10, 13),
            date(2026, 11, 10),
            date(2026, 12, 8),
        ];
        // Cross-check the hand-written list against jiff itself.
        for (month, want) in (1..=12).zip(expected) {
            let jiff_says = date(2026, month, 1)
                .nth_weekday_of_month(2, Weekday::Tuesday)
                .ok();
            assert_eq!(jiff_says, Some(want));
        }
        for expr in ["0 22 * * TUE#2", "0 22 ? * 2#2", "0 22 * * tue#2"] {
            assert_eq!(matching_in_year(expr, 2026), expected, "{expr}");
        }

        // Walking with next_matching_date finds the same dates.
        let mut found = Vec::new();
        let mut from = date(2026, 1, 1);
        while let Some(next) = s.next_matching_date(from, 40) {
            if next.year() != 2026 {
                break;
            }
            found.push(next);
            from = next.tomorrow().expect("in range");
        }
        assert_eq!(found, expected);
    }

    #[test]
    fn nth_weekday_agrees_with_jiff() {
        for (n, weekday, expr) in [
            (1, Weekday::Monday, "0 0 * * MON#1"),
            (3, Weekday::Friday, "0 0 * * 5#3"),
            (4, Weekday::Sunday, "0 0 * * 7#4"),
            (5, Weekday::Saturday, "0 0 * * sat#5"),
        ] {
            // jiff rolls a missing 5th occurrence into the next month; drop those.
            let want: Vec<Date> = (1..=12)
                .filter_map(|m| {
                    let first = date(2027, m, 1);
                    first
                        .nth_weekday_of_month(n, weekday)
                        .ok()
                        .filter(|d| d.month() == m)
                })
                .collect();
            assert_eq!(matching_in_year(expr, 2027), want, "{expr}");
        }
        // A list of occurrences mixes freely with plain weekdays.
        let s = parse("0 0 * * MON#1,FRI#3,SUN");
        assert!(s.matches_date(date(2026, 6, 1))); // first Monday
        assert!(!s.matches_date(date(2026, 6, 8))); // second Monday
        assert!(s.matches_date(date(2026, 6, 19))); // third Friday
        assert!(!s.matches_date(date(2026, 6, 12)));
        assert!(s.matches_date(date(2026, 6, 14))); // any Sunday
    }

    #[test]
    fn last_day_of_month() {
        let s = parse("0 3 L * *");
        for (d, want) in [
            (date(2028, 2, 29), true),
            (date(2028, 2, 28), false),
            (date(2026, 2, 28), true),
            (date(2026, 4, 30), true),
            (date(2026, 4, 29), false),
            (date(2026, 1, 30), false),
            (date(2026, 1, 31), true),
            (date(2026, 12, 31), true),
        ] {
            assert_eq!(s.matches_date(d), want, "{d}");
        }
        assert_eq!(
            s.next_matching_date(date(2026, 2, 1), 60),
            Some(date(2026, 2, 28))
        );
        assert_eq!(
            s.next_matching_date(date(2028, 2, 1), 60),
            Some(date(2028, 2, 29))
        );
        // L in a list with ordinary days.
        let days: Vec<i8> = matching_in_year("0 0 1,15,l 2 *", 2026)
            .iter()
            .map(|d| d.day())
            .collect();
        assert_eq!(days, [1, 15, 28]);
    }

    #[test]
    fn last_weekday_of_month() {
        let want: Vec<Date> = (1..=12)
            .filter_map(|m| {
                date(2026, m, 1)
                    .nth_weekday_of_month(-1, Weekday::Friday)
                    .ok()
            })
            .collect();
        assert_eq!(want.len(), 12);
        for expr in ["0 1 * * FRIL", "0 1 * * 5L", "0 1 ? * fril", "0 1 * * FRIl"] {
            assert_eq!(matching_in_year(expr, 2026), want, "{expr}");
        }
        assert_eq!(
            parse("0 1 * * 7L").next_matching_date(date(2026, 3, 1), 31),
            Some(date(2026, 3, 29))
        );
    }

    #[test]
    fn yearly_date_and_search_limit() {
        let s = parse("0 0 20 12 *");
        assert_eq!(matching_in_year("0 0 20 12 *", 2026), [date(2026, 12, 20)]);
        assert_eq!(
            s.next_matching_date(date(2026, 12, 21), 366),
            Some(date(2027, 12, 20))
        );
        // 2026-12-21 + 364 days = 2027-12-20, so 364 examined dates stop one short.
        assert_eq!(s.next_matching_date(date(2026, 12, 21), 364), None);
        assert_eq!(
            s.next_matching_date(date(2026, 12, 21), 365),
            Some(date(2027, 12, 20))
        );
        assert_eq!(s.next_matching_date(date(2026, 12, 20), 0), None);
        assert_eq!(
            s.next_matching_date(date(2026, 12, 20), 1),
            Some(date(2026, 12, 20))
        );
        assert_eq!(s.next_matching_date(date(2026, 12, 19), 1), None);
    }

    #[test]
    fn day_fields_or_semantics() {
        let s = parse("0 0 1 * MON");
        assert!(s.day_fields_both_restricted());
        for d in days_from(date(2026, 1, 1), 730) {
            let want = d.day() == 1 || d.weekday() == Weekday::Monday;
            assert_eq!(s.matches_date(d), want, "{d}");
        }
        // Month still has to match under OR.
        let s = parse("0 0 1 6 MON");
        assert!(!s.matches_date(date(2026, 7, 6))); // a Monday in July
        assert!(s.matches_date(date(2026, 6, 8)));
        assert!(s.matches_date(date(2026, 6, 1)));

        for (expr, both) in [
            ("0 0 1 * MON", true),
            ("0 0 L * FRI#3", true),
            ("0 0 */2 * 1-5", true),
            ("0 0 1-31 * 0", true),
            ("0 0 1 * *", false),
            ("0 0 1 * ?", false),
            ("0 0 * * MON", false),
            ("0 0 ? * MON#1", false),
            ("0 0 ? * FRIL", false),
            ("* * * * *", false),
            ("@weekly", false),
        ] {
            assert_eq!(parse(expr).day_fields_both_restricted(), both, "{expr}");
        }

        // Only one restricted: that one decides.
        assert_eq!(
            matching_in_year("0 0 ? 3 MON", 2026)
                .iter()
                .map(|d| d.day())
                .collect::<Vec<_>>(),
            [2, 9, 16, 23, 30]
        );
        assert_eq!(matching_in_year("0 0 13 * ?", 2026).len(), 12, "every 13th");
    }

    #[test]
    fn times_of_day_expansion() {
        let t = |h, m| time(h, m, 0, 0);
        assert_eq!(
            times("*/15 9 * * *"),
            [t(9, 0), t(9, 15), t(9, 30), t(9, 45)]
        );
        assert_eq!(
            times("10-50/20 1,3 * * *"),
            [t(1, 10), t(1, 30), t(1, 50), t(3, 10), t(3, 30), t(3, 50)]
        );
        assert_eq!(times("45/5 23 * * *"), [t(23, 45), t(23, 50), t(23, 55)]);
        assert_eq!(times("0 */6 * * *"), [t(0, 0), t(6, 0), t(12, 0), t(18, 0)]);
        assert_eq!(
            times("30 22-23,0-1 * * *"),
            [t(0, 30), t(1, 30), t(22, 30), t(23, 30)]
        );
        assert_eq!(times("59,0,30 12 * * *"), [t(12, 0), t(12, 30), t(12, 59)]);
        assert_eq!(times("*/60 0 * * *"), [t(0, 0)]);
        let all = times("* * * * *");
        assert_eq!(all.len(), 24 * 60);
        assert!(all.windows(2).all(|w| w[0] < w[1]));
        assert_eq!(all.last(), Some(&t(23, 59)));
    }

    #[test]
    fn can_ever_match_table() {
        for (expr, want) in [
            ("0 0 30 2 *", false),
            ("0 0 31 2 *", false),
            ("0 0 30,31 2 *", false),
            ("0 0 29 2 *", true),
            ("0 0 31 4,6,9,11 *", false),
            ("0 0 31 APR,JUN,SEP,NOV *", false),
            ("0 0 31 4,6,9,11,12 *", true),
            ("0 0 31 1-12 *", true),
            ("0 0 31 * *", true),
            ("0 0 L 2 *", true),
            ("0 0 30 2 MON", true),  // OR: any Monday in February
            ("0 0 ? 2 MON#5", true), // a leap-year Feb 29 that is a Monday
            ("0 0 ? 2 SUNL", true),
            ("0 0 * * *", true),
            ("@yearly", true),
        ] {
            assert_eq!(parse(expr).can_ever_match(), want, "{expr}");
        }
        assert_eq!(
            parse("0 0 30 2 *").next_matching_date(date(2026, 1, 1), 100_000),
            None
        );
        // February's fifth Monday needs a leap year whose Feb 29 is a Monday.
        assert_eq!(
            parse("0 0 ? 2 MON#5").next_matching_date(date(2026, 1, 1), 100_000),
            Some(date(2044, 2, 29))
        );
        assert_eq!(
            parse("0 0 29 2 *").next_matching_date(date(2026, 1, 1), 10_000),
            Some(date(2028, 2, 29))
        );
    }

    #[test]
    fn next_matching_date_agrees_with_brute_force() {
        let exprs = [
            "0 0 1 * MON",
            "0 0 15 3,9 *",
            "0 0 ? JAN-MAR FRIL",
            "0 0 L 2,8 *",
            "0 0 1,L 11 TUE#2",
            "0 0 */10 * *",
            "0 0 ? 12 SAT-SUN",
            "@yearly",
        ];
        let starts = [
            date(2026, 1, 1),
            date(2026, 2, 28),
            date(2026, 12, 31),
            date(2027, 6, 15),
            date(2028, 2, 29),
        ];
        for expr in exprs {
            let s = parse(expr);
            for start in starts {
                for max in [0u32, 1, 17, 200, 800] {
                    let brute = days_from(start, usize::try_from(max).unwrap_or(0))
                        .find(|d| s.matches_date(*d));
                    assert_eq!(
                        s.next_matching_date(start, max),
                        brute,
                        "{expr} {start} {max}"
                    );
                }
            }
        }
        // The end of jiff's calendar ends the search instead of panicking.
        let end = date(9999, 12, 30);
        assert_eq!(parse("0 0 1 * *").next_matching_date(end, 1000), None);
        assert_eq!(
            parse("0 0 31 12 *").next_matching_date(end, 1000),
            Some(date(9999, 12, 31))
        );
        assert_eq!(
            parse("0 0 1 1 *").next_matching_date(date(9999, 6, 1), 1000),
            None
        );
    }

    #[test]
    fn names_ranges_and_aliases() {
        let weekdays = |expr: &str| -> Vec<i8> {
            let s = parse(expr);
            days_from(date(2026, 6, 7), 7) // Sunday..Saturday
                .filter(|d| s.matches_date(*d))
                .map(|d| d.weekday().to_sunday_zero_offset())
                .collect()
        };
        assert_eq!(weekdays("0 0 * * MON-FRI"), [1, 2, 3, 4, 5]);
        assert_eq!(weekdays("0 0 * * mon-fri"), [1, 2, 3, 4, 5]);
        assert_eq!(weekdays("0 0 * * SAT-SUN"), [0, 6]);
        assert_eq!(weekdays("0 0 * * FRI-7"), [0, 5, 6]);
        assert_eq!(weekdays("0 0 * * SUN-SUN"), [0]);
        assert_eq!(weekdays("0 0 * * SUN-TUE"), [0, 1, 2]);
        assert_eq!(weekdays("0 0 * * 7"), [0]);
        assert_eq!(weekdays("0 0 * * 0"), [0]);
        assert_eq!(weekdays("0 0 * * */2"), [0, 2, 4, 6]);
        assert_eq!(weekdays("0 0 * * 1/2"), [1, 3, 5]);
        assert_eq!(weekdays("0 0 * * 7/3"), [0]);
        assert_eq!(weekdays("0 0 * * *,MON"), [0, 1, 2, 3, 4, 5, 6]);

        let months = |expr: &str| -> Vec<i8> {
            let s = parse(expr);
            (1..=12)
                .filter(|&m| s.matches_date(date(2026, m, 1)))
                .collect()
        };
        assert_eq!(months("0 0 1 JAN-MAR *"), [1, 2, 3]);
        assert_eq!(months("0 0 1 jan,Jul,DEC *"), [1, 7, 12]);
        assert_eq!(months("0 0 1 */3 *"), [1, 4, 7, 10]);
        assert_eq!(months("0 0 1 FEB/4 *"), [2, 6, 10]);
        assert_eq!(months("0 0 1 1-12/12 *"), [1]);

        // Macros equal their expansions (apart from the displayed text).
        for (macro_text, expansion) in MACROS {
            let a = parse(macro_text);
            let b = parse(expansion);
            assert_eq!(
                a.times_of_day().collect::<Vec<_>>(),
                b.times_of_day().collect::<Vec<_>>()
            );
            for d in days_from(date(2026, 1, 1), 400) {
                assert_eq!(a.matches_date(d), b.matches_date(d), "{macro_text} {d}");
            }
            assert_eq!(a.to_string(), macro_text);
        }
        assert_eq!(parse("@DAILY").to_string(), "@DAILY");
        assert_eq!(parse("\t@hourly\n").times_of_day().count(), 24);
    }

    #[test]
    fn display_and_whitespace() {
        assert_eq!(parse("  0\t0  *  * *\n").to_string(), "0\t0  *  * *");
        assert_eq!(parse("0 22 * * TUE#2").to_string(), "0 22 * * TUE#2");
        assert_eq!(parse(" 0 0 * * * "), parse("0 0 * * *"));
        let e = CronError {
            offset: 3,
            message: "hour `x`: bad".into(),
        };
        assert_eq!(e.to_string(), "hour `x`: bad (at byte 3)");
    }

    #[test]
    fn errors() {
        #[rustfmt::skip]
        let cases: &[(&str, usize, &str)] = &[
            // Whole expression.
            ("", 0, "cron expression is empty"),
            ("   \t ", 0, "cron expression is empty"),
            ("0 0 * *", 0, "expected 5 fields (minute hour day-of-month month day-of-week) but found 4"),
            ("0 0 0 * * *", 0, "found 6; a seconds field is not supported"),
            ("0 0 0 * * * 2026", 0, "found 7; seconds and year fields are not supported"),
            ("*", 0, "but found 1"),
            ("@reboot", 0, "@reboot has no time; maintenance windows need a schedule"),
            ("  @REBOOT", 2, "@reboot has no time"),
            ("@fortnightly", 0, "unknown macro `@fortnightly`"),
            ("@daily 0", 0, "macro `@daily` must be the whole expression"),
            // Out of range, naming field and allowed range.
            ("60 0 * * *", 0, "minute `60`: 60 is out of range (allowed: 0-59)"),
            ("0 24 * * *", 2, "hour `24`: 24 is out of range (allowed: 0-23)"),
            ("0 0 0 * *", 4, "day-of-month `0`: 0 is out of range (allowed: 1-31 or L)"),
            ("0 0 32 * *", 4, "day-of-month `32`"),
            ("0 0 * 13 *", 6, "month `13`: 13 is out of range (allowed: 1-12 or JAN-DEC)"),
            ("0 0 * 0 *", 6, "month `0`"),
            ("0 0 * * 8", 8, "day-of-week `8`: 8 is out of range (allowed: 0-7 or SUN-SAT)"),
            ("99999999999999999999 0 * * *", 0, "minute `99999999999999999999`: 99999999999999999999 is out of range"),
            ("0 1,2,25 * * *", 6, "hour `25`"),
            ("0 0 * * 1-9", 8, "day-of-week `1-9`: 9 is out of range"),
            // Names.
            ("0 0 * FOO *", 6, "month `FOO`: unknown month name `FOO`"),
            ("0 0 * * FUN", 8, "day-of-week `FUN`: unknown day-of-week name `FUN`"),
            ("0 0 * * MONDAY", 8, "unknown day-of-week name `MONDAY`"),
            ("0 0 * MON *", 6, "unknown month name `MON`"),
            ("0 0 * * HOLIDAY", 8, "unknown day-of-week name `HOLIDAY`"),
            ("MON 0 * * *", 0, "minute `MON`: `MON` is not a valid value (allowed: 0-59)"),
            ("0 0 JAN * *", 4, "day-of-month `JAN`: `JAN` is not a valid value"),
            // Ranges.
            ("0 5-2 * * *", 2, "hour `5-2`: range 5-2 is backwards"),
            ("0 0 * * FRI-MON", 8, "range FRI-MON is backwards"),
            ("0 0 * * 6-0", 8, "range 6-0 is backwards"),
            ("0 0 * DEC-JAN *", 6, "range DEC-JAN is backwards"),
            ("1-2-3 0 * * *", 0, "minute `1-2-3`: range `1-2-3` has more than one `-`"),
            ("-5 0 * * *", 0, "range `-5` is missing its start"),
            ("5- 0 * * *", 0, "range `5-` is missing its end"),
            ("*-5 0 * * *", 0, "`*` is not a valid value"),
            // Steps.
            ("*/0 0 * * *", 0, "minute `*/0`: step must be 1-60"),
            ("*/61 0 * * *", 0, "minute `*/61`: step must be 1-60"),
            ("0 */25 * * *", 2, "hour `*/25`: step must be 1-24"),
            ("0 0 * * */8", 8, "day-of-week `*/8`: step must be 1-7"),
            ("0 0 * */13 *", 6, "month `*/13`: step must be 1-12"),
            ("*/ 0 * * *", 0, "the step after `/` is missing"),
            ("*/x 0 * * *", 0, "step `x` is not a number"),
            ("*/-1 0 * * *", 0, "step `-1` is not a number"),
            ("*/2/3 0 * * *", 0, "only one `/` step is allowed"),
            ("/5 0 * * *", 0, "minute `/5`: a value is missing"),
            // Lists.
            ("1,,2 0 * * *", 2, "minute `1,,2`: empty list item"),
            ("1,2, 0 * * *", 4, "minute `1,2,`: empty list item"),
            (",1 0 * * *", 0, "minute `,1`: empty list item"),
            ("0 0 1,15,x * *", 9, "day-of-month `x`"),
            // `?`.
            ("? 0 * * *", 0, "minute `?`: `?` is only allowed in day-of-month and day-of-week"),
            ("0 0 * ? *", 6, "month `?`: `?` is only allowed"),
            ("0 0 1,? * *", 6, "day-of-month `?`: `?` must be the whole field"),
            ("0 0 * * ?/2", 8, "`?` is not a valid value"),
            // Day-of-month L / W.
            ("0 0 15W * *", 4, "day-of-month `15W`: `W` (nearest weekday) is not supported"),
            ("0 0 LW * *", 4, "day-of-month `LW`: `W` (nearest weekday) is not supported"),
            ("0 0 1,lw * *", 6, "`W` (nearest weekday) is not supported"),
            ("0 0 W * *", 4, "`W` (nearest weekday) is not supported"),
            ("0 0 L-3 * *", 4, "day-of-month `L-3`: `L` (last day of the month) must stand alone"),
            ("0 0 L/2 * *", 4, "`L` (last day of the month) must stand alone"),
            ("0 0 1-L * *", 4, "`L` (last day of the month) must stand alone"),
            ("0 0 5L * *", 4, "`L` (last day of the month) must stand alone"),
            // Day-of-week # / L.
            ("0 22 * * TUE#6", 9, "day-of-week `TUE#6`: the occurrence after # must be 1-5"),
            ("0 22 * * TUE#0", 9, "the occurrence after # must be 1-5"),
            ("0 22 * * TUE#", 9, "the occurrence after # must be 1-5"),
            ("0 22 * * TUE#+2", 9, "the occurrence after # must be 1-5"),
            ("0 22 * * TUE#2#3", 9, "the occurrence after # must be 1-5"),
            ("0 22 * * #2", 9, "day-of-week `#2`: a value is missing"),
            ("0 22 * * 8#2", 9, "day-of-week `8#2`: 8 is out of range"),
            ("0 22 * * XYZ#2", 9, "unknown day-of-week name `XYZ`"),
            ("0 22 * * MON,TUE-WED#2", 13, "day-of-week `TUE-WED#2`: `#` cannot be combined with a range, step or `*`"),
            ("0 22 * * TUE#2/2", 9, "`#` cannot be combined"),
            ("0 22 * * *#2", 9, "`#` cannot be combined"),
            ("0 22 * * MON-FRIL", 9, "day-of-week `MON-FRIL`: `L` (last weekday) cannot be combined with a range, step or `*`"),
            ("0 22 * * 5L/2", 9, "`L` (last weekday) cannot be combined"),
            ("0 22 * * L", 9, "day-of-week `L`: `L` needs a weekday before it"),
            ("0 22 * * 9L", 9, "day-of-week `9L`: 9 is out of range"),
            ("0 22 * * 5#2L", 9, "the occurrence after # must be 1-5"),
            // Garbage characters.
            ("0 0 * * MON!", 8, "day-of-week `MON!`: `MON!` is not a valid value"),
            ("0 0 * * é", 8, "day-of-week `é`: `é` is not a valid value"),
            ("0 0é * * *", 2, "hour `0é`"),
            ("0 0 * * *\n5", 8, "day-of-week `*\n5`"),  // newline inside is not a separator
            ("+5 0 * * *", 0, "minute `+5`"),
            ("0 0\u{a0}1 * * *", 2, "hour `0\u{a0}1`"),
            ("\t 0 61 * * *", 4, "hour `61`"),
        ];
        for &(expr, offset, needle) in cases {
            match CronSchedule::parse(expr) {
                Ok(s) => panic!("{expr:?} should fail, parsed as {s:?}"),
                Err(e) => {
                    assert!(
                        e.message.contains(needle),
                        "{expr:?}: {:?} lacks {needle:?}",
                        e.message
                    );
                    assert_eq!(e.offset, offset, "{expr:?}: {}", e.message);
                }
            }
        }
    }

    #[test]
    fn field_errors_name_the_field_and_quote_the_token() {
        let fields = ["minute", "hour", "day-of-month", "month", "day-of-week"];
        for bad in ["x", "99", "1-", "*/0", "1,,2", "%"] {
            for position in 0..5 {
                let mut parts = ["0", "0", "1", "1", "*"];
                parts[position] = bad;
                let expr = parts.join(" ");
                let Err(e) = CronSchedule::parse(&expr) else {
                    panic!("{expr:?} should fail");
                };
                assert!(
                    e.message.starts_with(&format!("{} `", fields[position])),
                    "{expr:?}: {}",
                    e.message
                );
                let token_start = expr
                    .split(' ')
                    .take(position)
                    .map(|p| p.len() + 1)
                    .sum::<usize>();
                assert!(
                    e.offset >= token_start && e.offset <= token_start + bad.len(),
                    "{expr:?}: {e:?}"
                );
            }
        }
    }

    #[test]
    fn garbage_never_panics() {
        // Small xorshift so the test is deterministic and dependency-free.
        let mut state = 0x9e37_79b9_7f4a_7c15u64;
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        let alphabet: Vec<char> = "0123456789 \t*/,-#?LWlw@ABCDEFJMNOSTUYZabcfrsuéß\u{a0}\n!+%"
            .chars()
            .collect();
        let seeds = [
            "0 22 * * TUE#2",
            "*/15 1-5 L JAN-MAR MON-FRI",
            "@weekly",
            "0 0 1,15,L * FRIL",
        ];
        let mut parsed = 0;
        for round in 0..600 {
            let input: String = if round % 3 == 0 {
                // Mutate a valid expression so we also reach deep parser paths.
                let mut chars: Vec<char> = seeds[round % seeds.len()].chars().collect();
                let pick = |r: u64, len: usize| usize::try_from(r % len as u64).unwrap_or(0);
                let at = pick(next(), chars.len());
                chars[at] = alphabet[pick(next(), alphabet.len())];
                chars.into_iter().collect()
            } else {
                let len = usize::try_from(next() % 24).unwrap_or(0);
                (0..len)
                    .map(|_| alphabet[usize::try_from(next() % alphabet.len() as u64).unwrap_or(0)])
                    .collect()
            };
            let result = std::panic::catch_unwind(|| match CronSchedule::parse(&input) {
                Ok(s) => {
                    let _ = s.times_of_day().count();
                    let _ = s.can_ever_match();
                    let _ = s.next_matching_date(date(2026, 1, 1), 400);
                    let _ = s.to_string();
                    true
                }
                Err(e) => {
                    assert!(e.offset <= input.len(), "{input:?}: {e:?}");
                    assert!(!e.message.is_empty());
                    false
                }
            });
            match result {
                Ok(true) => parsed += 1,
                Ok(false) => {}
                Err(_) => panic!("parse panicked on {input:?}"),
            }
        }
        assert!(parsed > 0, "the mutations should leave some inputs valid");
    }
}
