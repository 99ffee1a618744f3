//! A weekly time window in an explicit time zone (`Mon-Fri 08:00-18:00 Europe/Berlin`): a
//! rule with one applies only inside it. The zone is named, never the server's local time,
//! so the same rule means the same hours on every broker.

use std::str::FromStr;

use jiff::Timestamp;
use jiff::civil::{Time, Weekday};
use jiff::tz::TimeZone;
use serde::{Deserialize, Serialize};

use super::model::ParseError;

/// Days of the week, a start and an end time (end before start: the window crosses
/// midnight), and the IANA time zone they are in.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct TimeWindow {
    days: [bool; 7],
    start: (i8, i8),
    end: (i8, i8),
    zone: String,
}

const DAYS: [&str; 7] = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];

fn day_index(name: &str) -> Option<usize> {
    let lower = name.to_ascii_lowercase();
    DAYS.iter().position(|d| lower.starts_with(d))
}

fn hhmm(text: &str) -> Option<(i8, i8)> {
    let (h, m) = text.split_once(':')?;
    let (h, m): (i8, i8) = (h.parse().ok()?, m.parse().ok()?);
    ((0..=24).contains(&h) && (0..60).contains(&m) && !(h == 24 && m != 0)).then_some((h, m))
}

impl FromStr for TimeWindow {
    type Err = ParseError;
    /// `DAYS HH:MM-HH:MM ZONE`, `DAYS` being `Mon-Fri`, `Sat,Sun` or `*`.
    ///
    /// ```
    /// let w: rustmq_security::acl::TimeWindow = "Mon-Fri 08:00-18:00 UTC".parse().unwrap();
    /// let monday_noon: jiff::Timestamp = "2026-11-30T12:00:00Z".parse().unwrap();
    /// let sunday_noon: jiff::Timestamp = "2026-11-29T12:00:00Z".parse().unwrap();
    /// assert!(w.contains(monday_noon));
    /// assert!(!w.contains(sunday_noon));
    /// ```
    fn from_str(s: &str) -> Result<Self, ParseError> {
        let bad = |reason: &str| ParseError::new("time window", s, reason);
        let parts: Vec<&str> = s.split_whitespace().collect();
        let [days_text, hours, zone] = parts.as_slice() else {
            return Err(bad(
                "expected 'DAYS HH:MM-HH:MM ZONE', e.g. 'Mon-Fri 08:00-18:00 Europe/Berlin'",
            ));
        };
        let mut days = [false; 7];
        if *days_text == "*" {
            days = [true; 7];
        } else {
            for item in days_text.split(',') {
                match item.split_once('-') {
                    Some((a, b)) => {
                        let (a, b) = (
                            day_index(a).ok_or_else(|| bad("unknown day"))?,
                            day_index(b).ok_or_else(|| bad("unknown day"))?,
                        );
                        let mut d = a;
                        loop {
                            days[d] = true;
                            if d == b {
                                break;
                            }
                            d = (d + 1) % 7;
                        }
                    }
                    None => days[day_index(item).ok_or_else(|| bad("unknown day"))?] = true,
                }
            }
        }
        let (start, end) = hours
            .split_once('-')
            .ok_or_else(|| bad("expected HH:MM-HH:MM"))?;
        let start = hhmm(start).ok_or_else(|| bad("bad start time"))?;
        let end = hhmm(end).ok_or_else(|| bad("bad end time"))?;
        if start == end {
            return Err(bad("start and end are the same"));
        }
        TimeZone::get(zone).map_err(|e| bad(&format!("time zone: {e}")))?;
        Ok(Self {
            days,
            start,
            end,
            zone: zone.to_string(),
        })
    }
}

impl TryFrom<String> for TimeWindow {
    type Error = ParseError;
    fn try_from(s: String) -> Result<Self, ParseError> {
        s.parse()
    }
}

impl From<TimeWindow> for String {
    fn from(w: TimeWindow) -> String {
        let days: Vec<&str> = DAYS
            .iter()
            .zip(w.days)
            .filter(|(_, on)| *on)
            .map(|(d, _)| *d)
            .collect();
        let days = if days.len() == 7 {
            "*".to_string()
        } else {
            days.join(",")
        };
        format!(
            "{days} {:02}:{:02}-{:02}:{:02} {}",
            w.start.0, w.start.1, w.end.0, w.end.1, w.zone
        )
    }
}

impl TimeWindow {
    /// Whether `at` falls inside the window, in the window's zone. A zone that can no
    /// longer be loaded counts as outside (a rule is never applied by mistake).
    pub fn contains(&self, at: Timestamp) -> bool {
        let Ok(tz) = TimeZone::get(&self.zone) else {
            return false;
        };
        let local = at.to_zoned(tz);
        let minutes = |(h, m): (i8, i8)| i32::from(h) * 60 + i32::from(m);
        let time: Time = local.time();
        let now = i32::from(time.hour()) * 60 + i32::from(time.minute());
        let (start, end) = (minutes(self.start), minutes(self.end));
        let day = weekday_index(local.weekday());
        if start < end {
            self.days[day] && now >= start && now < end
        } else {
            // Across midnight: the part after midnight belongs to the day it started on.
            let yesterday = (day + 6) % 7;
            (self.days[day] && now >= start) || (self.days[yesterday] && now < end)
        }
    }
}

fn weekday_index(d: Weekday) -> usize {
    d.to_monday_zero_offset() as usize
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    #[test]
    fn the_zone_decides_the_hours() {
        let w: TimeWindow = "Mon-Fri 09:00-17:00 Europe/Berlin".parse().unwrap();
        // 08:30 UTC on a Monday in winter is 09:30 in Berlin.
        assert!(w.contains(at("2026-11-30T08:30:00Z")));
        // 16:30 UTC is 17:30 there: outside.
        assert!(!w.contains(at("2026-11-30T16:30:00Z")));
        // Saturday.
        assert!(!w.contains(at("2026-11-28T10:00:00Z")));
    }

    #[test]
    fn a_night_window_crosses_midnight_from_its_start_day() {
        let w: TimeWindow = "Fri 22:00-02:00 UTC".parse().unwrap();
        assert!(w.contains(at("2026-12-04T23:00:00Z"))); // Friday night
        assert!(w.contains(at("2026-12-05T01:00:00Z"))); // early Saturday
        assert!(!w.contains(at("2026-12-05T23:00:00Z"))); // Saturday night
        assert!(!w.contains(at("2026-12-04T01:00:00Z"))); // early Friday
    }

    #[test]
    fn windows_round_trip_and_bad_ones_say_why() {
        for text in [
            "* 00:00-24:00 UTC",
            "mon,wed,fri 06:15-07:45 America/New_York",
        ] {
            let w: TimeWindow = text.parse().unwrap();
            let again: TimeWindow = String::from(w.clone()).parse().unwrap();
            assert_eq!(again, w);
        }
        for (text, why) in [
            ("Mon-Fri 09:00-17:00", "expected 'DAYS"),
            ("Mon-Fri 09:00-17:00 Mars/Olympus", "time zone"),
            ("Someday 09:00-17:00 UTC", "unknown day"),
            ("Mon 25:00-26:00 UTC", "bad start time"),
            ("Mon 09:00-09:00 UTC", "the same"),
        ] {
            let e = text.parse::<TimeWindow>().unwrap_err().to_string();
            assert!(e.contains(why), "{text}: {e}");
        }
    }
}
