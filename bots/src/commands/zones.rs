//! The question "which time zone are you in?": a few likely zones as buttons, guessed from the
//! language the person's chat client reports, always with UTC, and a city to type instead.
//! Asked, never assumed: nothing here sets a zone. Pure: the clock comes in as `now`.

use chrono::{DateTime, Utc};
use chrono_tz::Tz;

use super::reply::{Button, ButtonAction, Reply, code, plain};

/// Zones people with this client language (lower case, `-` between parts) usually live in,
/// most likely first. A tag with a region is looked up whole before its language alone.
const BY_LANGUAGE: &[(&str, &[&str])] = &[
    (
        "en",
        &[
            "America/New_York",
            "America/Chicago",
            "America/Los_Angeles",
            "Europe/London",
        ],
    ),
    (
        "en-us",
        &[
            "America/New_York",
            "America/Chicago",
            "America/Denver",
            "America/Los_Angeles",
        ],
    ),
    ("en-gb", &["Europe/London"]),
    ("en-ie", &["Europe/Dublin"]),
    (
        "en-ca",
        &["America/Toronto", "America/Vancouver", "America/Edmonton"],
    ),
    (
        "en-au",
        &["Australia/Sydney", "Australia/Brisbane", "Australia/Perth"],
    ),
    ("en-nz", &["Pacific/Auckland"]),
    ("en-in", &["Asia/Kolkata"]),
    ("en-za", &["Africa/Johannesburg"]),
    ("en-sg", &["Asia/Singapore"]),
    ("de", &["Europe/Berlin", "Europe/Vienna", "Europe/Zurich"]),
    ("de-at", &["Europe/Vienna"]),
    ("de-ch", &["Europe/Zurich"]),
    (
        "fr",
        &[
            "Europe/Paris",
            "Europe/Brussels",
            "Europe/Zurich",
            "America/Toronto",
        ],
    ),
    ("fr-ca", &["America/Toronto", "America/Halifax"]),
    ("fr-be", &["Europe/Brussels"]),
    ("fr-ch", &["Europe/Zurich"]),
    (
        "es",
        &[
            "Europe/Madrid",
            "America/Mexico_City",
            "America/Bogota",
            "America/Argentina/Buenos_Aires",
        ],
    ),
    (
        "es-mx",
        &["America/Mexico_City", "America/Tijuana", "America/Cancun"],
    ),
    ("es-es", &["Europe/Madrid", "Atlantic/Canary"]),
    ("es-ar", &["America/Argentina/Buenos_Aires"]),
    ("es-co", &["America/Bogota"]),
    ("es-cl", &["America/Santiago"]),
    (
        "pt",
        &["America/Sao_Paulo", "Europe/Lisbon", "America/Manaus"],
    ),
    (
        "pt-br",
        &["America/Sao_Paulo", "America/Manaus", "America/Fortaleza"],
    ),
    ("pt-pt", &["Europe/Lisbon", "Atlantic/Azores"]),
    ("it", &["Europe/Rome"]),
    ("nl", &["Europe/Amsterdam", "Europe/Brussels"]),
    ("pl", &["Europe/Warsaw"]),
    ("uk", &["Europe/Kyiv"]),
    (
        "ru",
        &["Europe/Moscow", "Asia/Yekaterinburg", "Asia/Novosibirsk"],
    ),
    ("be", &["Europe/Minsk"]),
    ("tr", &["Europe/Istanbul"]),
    ("ja", &["Asia/Tokyo"]),
    ("ko", &["Asia/Seoul"]),
    (
        "zh",
        &[
            "Asia/Shanghai",
            "Asia/Taipei",
            "Asia/Hong_Kong",
            "Asia/Singapore",
        ],
    ),
    ("zh-tw", &["Asia/Taipei"]),
    ("zh-hk", &["Asia/Hong_Kong"]),
    ("hi", &["Asia/Kolkata"]),
    ("ar", &["Asia/Riyadh", "Asia/Dubai", "Africa/Cairo"]),
    ("he", &["Asia/Jerusalem"]),
    ("fa", &["Asia/Tehran"]),
    ("sv", &["Europe/Stockholm"]),
    ("da", &["Europe/Copenhagen"]),
    ("nb", &["Europe/Oslo"]),
    ("no", &["Europe/Oslo"]),
    ("fi", &["Europe/Helsinki"]),
    ("cs", &["Europe/Prague"]),
    ("sk", &["Europe/Bratislava"]),
    ("el", &["Europe/Athens"]),
    ("hu", &["Europe/Budapest"]),
    ("ro", &["Europe/Bucharest"]),
    ("bg", &["Europe/Sofia"]),
    ("hr", &["Europe/Zagreb"]),
    ("sr", &["Europe/Belgrade"]),
    ("lt", &["Europe/Vilnius"]),
    ("lv", &["Europe/Riga"]),
    ("et", &["Europe/Tallinn"]),
    ("ca", &["Europe/Madrid"]),
    ("id", &["Asia/Jakarta", "Asia/Makassar"]),
    ("ms", &["Asia/Kuala_Lumpur"]),
    ("vi", &["Asia/Ho_Chi_Minh"]),
    ("th", &["Asia/Bangkok"]),
    ("kk", &["Asia/Almaty"]),
    ("uz", &["Asia/Tashkent"]),
];

/// Offered when the language says nothing: a spread over the busiest zones.
const UNKNOWN_LANGUAGE: &[&str] = &[
    "America/New_York",
    "America/Los_Angeles",
    "Europe/London",
    "Europe/Berlin",
];

/// At most this many zones besides UTC: a question, not a list to scroll.
const MOST: usize = 4;

/// The zones to offer someone whose client reports `language` (`de`, `en-GB`, `pt_BR`), most
/// likely first, UTC always last.
pub(crate) fn likely_zones(language: Option<&str>) -> Vec<Tz> {
    let tag = language
        .map(|l| l.trim().to_ascii_lowercase().replace('_', "-"))
        .unwrap_or_default();
    let lookup = |key: &str| {
        BY_LANGUAGE
            .iter()
            .find(|(language, _)| *language == key)
            .map(|(_, zones)| *zones)
    };
    let base = tag.split('-').next().unwrap_or_default();
    let names = lookup(&tag)
        .or_else(|| lookup(base))
        .unwrap_or(UNKNOWN_LANGUAGE);
    let mut zones: Vec<Tz> = names
        .iter()
        .filter_map(|name| name.parse().ok())
        .take(MOST)
        .collect();
    zones.push(Tz::UTC);
    zones
}

/// What a zone's button says: its city and the time there now, so the right one is obvious.
fn label(zone: Tz, now: DateTime<Utc>) -> String {
    let city = zone.name().rsplit('/').next().unwrap_or(zone.name());
    format!(
        "{} · {}",
        city.replace('_', " "),
        now.with_timezone(&zone).format("%H:%M")
    )
}

impl Reply {
    /// "Which time zone are you in?" with a button per zone, two to a row, and how to type a
    /// city instead.
    pub(crate) fn zone_question(zones: &[Tz], now: DateTime<Utc>) -> Reply {
        let mut reply = Reply::default();
        reply.push_zone_question(zones, now);
        reply
    }

    /// The same question under this reply (the agreement, a post's confirmation).
    pub(crate) fn with_zone_question(mut self, zones: &[Tz], now: DateTime<Utc>) -> Reply {
        self.text.push(super::reply::Block::Line(Vec::new()));
        self.push_zone_question(zones, now);
        self
    }

    fn push_zone_question(&mut self, zones: &[Tz], now: DateTime<Utc>) {
        let question = Reply::lines(vec![
            vec![plain(
                "🕒 Which time zone are you in? Your times are read and shown in it.",
            )],
            vec![
                plain("Tap yours, or send your city: "),
                code("/timezone Lisbon"),
                plain(", "),
                code("/timezone new york"),
                plain("."),
            ],
        ]);
        self.text.extend(question.text);
        self.buttons.extend(zones.chunks(2).map(|row| {
            row.iter()
                .map(|zone| Button {
                    label: label(*zone, now),
                    action: ButtonAction::SetZone(*zone),
                })
                .collect()
        }));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::commands::testing::utc;

    #[test]
    fn every_zone_in_the_table_exists() {
        for (language, zones) in BY_LANGUAGE {
            for name in *zones {
                assert!(name.parse::<Tz>().is_ok(), "{language}: {name}");
            }
            assert!(zones.len() <= MOST, "{language}");
        }
    }

    #[test]
    fn zones_follow_the_language_with_its_region_first_and_utc_always() {
        let names = |language: Option<&str>| -> Vec<&'static str> {
            likely_zones(language).iter().map(|z| z.name()).collect()
        };
        assert_eq!(
            names(Some("de")),
            ["Europe/Berlin", "Europe/Vienna", "Europe/Zurich", "UTC"]
        );
        assert_eq!(names(Some("en-GB")), ["Europe/London", "UTC"]);
        assert_eq!(names(Some("pt_BR"))[0], "America/Sao_Paulo");
        assert_eq!(
            names(Some("en-US"))[..3],
            ["America/New_York", "America/Chicago", "America/Denver"]
        );
        // A region not in the table falls back to its language.
        assert_eq!(names(Some("de-LU"))[0], "Europe/Berlin");
        for unknown in [None, Some(""), Some("xx"), Some("--")] {
            let zones = names(unknown);
            assert!((3..=5).contains(&zones.len()), "{unknown:?}: {zones:?}");
            assert_eq!(zones.last(), Some(&"UTC"));
        }
    }

    #[test]
    fn the_question_has_a_button_per_zone_with_the_time_there() {
        let zones = likely_zones(Some("de"));
        let question = Reply::zone_question(&zones, utc(2026, 7, 1, 10, 0));
        let buttons: Vec<&Button> = question.buttons.iter().flatten().collect();
        assert_eq!(buttons.len(), 4);
        assert_eq!(buttons[0].label, "Berlin · 12:00");
        assert_eq!(buttons[3].label, "UTC · 10:00");
        assert_eq!(
            buttons[0].action,
            ButtonAction::SetZone(chrono_tz::Europe::Berlin)
        );
        assert!(
            question
                .to_telegram_html()
                .contains("<code>/timezone Lisbon</code>")
        );
    }
}
