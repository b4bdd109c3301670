//! Zones a phrase may name: abbreviations, IANA names in any case, and which author zones
//! write dates month-first. Never the host's zone: everything comes from chrono-tz's database.

use std::collections::HashMap;
use std::sync::OnceLock;

use chrono::FixedOffset;
use chrono_tz::{America, Tz};

use crate::recurrence::Zone;

/// What a zone word means.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum ZoneWord {
    /// A zone.
    Zone(Zone),
    /// An abbreviation several zones use, and the author's own zone does not settle it.
    Ambiguous {
        /// A zone name to suggest instead.
        example: &'static str,
    },
}

/// Abbreviations of standard and summer time mean their defined offset: `PST` is UTC-08:00 all
/// year, as `date(1)` reads it. The generic `ET`, `CT`, `MT` and `PT` mean the region's zone,
/// with its daylight saving.
const FIXED: &[(&str, i32)] = &[
    ("pst", -8 * 60),
    ("pdt", -7 * 60),
    ("mst", -7 * 60),
    ("mdt", -6 * 60),
    ("cdt", -5 * 60),
    ("est", -5 * 60),
    ("edt", -4 * 60),
    ("akst", -9 * 60),
    ("akdt", -8 * 60),
    ("hst", -10 * 60),
    ("wet", 0),
    ("west", 60),
    ("bst", 60),
    ("cet", 60),
    ("cest", 2 * 60),
    ("eet", 2 * 60),
    ("eest", 3 * 60),
    ("msk", 3 * 60),
    ("sgt", 8 * 60),
    ("hkt", 8 * 60),
    ("awst", 8 * 60),
    ("jst", 9 * 60),
    ("kst", 9 * 60),
    ("acst", 9 * 60 + 30),
    ("acdt", 10 * 60 + 30),
    ("aest", 10 * 60),
    ("aedt", 11 * 60),
    ("nzst", 12 * 60),
    ("nzdt", 13 * 60),
];

/// The zone a word names, if it is a zone word at all. `author` settles abbreviations that
/// several countries use (`IST` said by someone in Asia/Kolkata is India's).
pub(super) fn word(word: &str, author: Tz) -> Option<ZoneWord> {
    let zone = match word {
        "utc" | "gmt" | "z" | "ut" | "zulu" => Zone::UTC,
        "et" => Zone::Named(America::New_York),
        "ct" => Zone::Named(America::Chicago),
        "mt" => Zone::Named(America::Denver),
        "pt" => Zone::Named(America::Los_Angeles),
        "ist" => {
            return Some(match author.name() {
                "Asia/Kolkata" | "Asia/Calcutta" => fixed(5 * 60 + 30)?,
                "Europe/Dublin" | "Eire" => fixed(60)?,
                "Asia/Jerusalem" | "Asia/Tel_Aviv" | "Israel" => fixed(2 * 60)?,
                _ => ZoneWord::Ambiguous {
                    example: "Asia/Kolkata",
                },
            });
        }
        "ast" => {
            return Some(match author.name() {
                "Asia/Riyadh" | "Asia/Kuwait" | "Asia/Qatar" | "Asia/Bahrain" | "Asia/Baghdad"
                | "Asia/Aden" => fixed(3 * 60)?,
                name if name.starts_with("America/") => fixed(-4 * 60)?,
                _ => ZoneWord::Ambiguous {
                    example: "America/Halifax",
                },
            });
        }
        "cst" => {
            return match author.name() {
                "Asia/Shanghai" | "Asia/Chongqing" | "Asia/Harbin" | "Asia/Taipei" | "PRC"
                | "ROC" => fixed(8 * 60),
                "America/Havana" | "Cuba" => fixed(-5 * 60),
                _ => fixed(-6 * 60),
            };
        }
        _ => {
            let minutes = FIXED.iter().find(|(name, _)| *name == word)?.1;
            return fixed(minutes);
        }
    };
    Some(ZoneWord::Zone(zone))
}

fn fixed(minutes: i32) -> Option<ZoneWord> {
    FixedOffset::east_opt(minutes * 60).map(|offset| ZoneWord::Zone(Zone::Offset(offset)))
}

/// An IANA zone by its name in any case (`europe/berlin`).
pub(super) fn iana(lowercase_name: &str) -> Option<Tz> {
    static BY_NAME: OnceLock<HashMap<String, Tz>> = OnceLock::new();
    BY_NAME
        .get_or_init(|| {
            chrono_tz::TZ_VARIANTS
                .iter()
                .map(|tz| (tz.name().to_ascii_lowercase(), *tz))
                .collect()
        })
        .get(lowercase_name)
        .copied()
}

/// US zones, whose users write `12/11` for December 11 (SPEC rule 6).
const US_ZONES: &[&str] = &[
    "America/New_York",
    "America/Chicago",
    "America/Denver",
    "America/Los_Angeles",
    "America/Phoenix",
    "America/Anchorage",
    "America/Juneau",
    "America/Sitka",
    "America/Yakutat",
    "America/Nome",
    "America/Metlakatla",
    "America/Adak",
    "America/Atka",
    "America/Boise",
    "America/Detroit",
    "America/Menominee",
    "America/Indianapolis",
    "America/Fort_Wayne",
    "America/Louisville",
    "America/Knox_IN",
    "America/Shiprock",
    "America/Puerto_Rico",
    "America/St_Thomas",
    "America/Virgin",
    "Pacific/Honolulu",
    "Pacific/Johnston",
    "Pacific/Guam",
    "Pacific/Saipan",
    "Pacific/Pago_Pago",
    "Pacific/Samoa",
    "Pacific/Midway",
    "Navajo",
    "EST5EDT",
    "CST6CDT",
    "MST7MDT",
    "PST8PDT",
];

/// Whether people in `zone` write numeric dates month-first.
pub(super) fn uses_month_first_dates(zone: Tz) -> bool {
    let name = zone.name();
    name.starts_with("US/")
        || name.starts_with("America/Indiana/")
        || name.starts_with("America/Kentucky/")
        || name.starts_with("America/North_Dakota/")
        || US_ZONES.contains(&name)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono_tz::{Asia, Europe};

    #[test]
    fn iana_names_are_found_in_any_case() {
        let table = [
            ("europe/berlin", Some(Europe::Berlin)),
            (
                "america/argentina/buenos_aires",
                Some(America::Argentina::Buenos_Aires),
            ),
            ("america/port-au-prince", Some(America::PortauPrince)),
            ("mars/olympus_mons", None),
        ];
        for (name, want) in table {
            assert_eq!(iana(name), want, "{name}");
        }
    }

    #[test]
    fn us_zones_and_only_us_zones_write_dates_month_first() {
        let table = [
            (America::New_York, true),
            (America::Los_Angeles, true),
            (America::Indiana::Indianapolis, true),
            (Tz::US__Eastern, true),
            (chrono_tz::Pacific::Honolulu, true),
            (America::Toronto, false),
            (America::Mexico_City, false),
            (Europe::Berlin, false),
            (Asia::Kolkata, false),
            (Tz::UTC, false),
        ];
        for (zone, want) in table {
            assert_eq!(uses_month_first_dates(zone), want, "{zone}");
        }
    }

    #[test]
    fn ambiguous_abbreviations_follow_the_author_or_are_refused() {
        let ist_india = word("ist", Asia::Kolkata);
        assert_eq!(ist_india, fixed(330));
        assert!(matches!(
            word("ist", Europe::Berlin),
            Some(ZoneWord::Ambiguous { .. })
        ));
        assert_eq!(word("cst", America::Chicago), fixed(-360));
        assert_eq!(word("cst", Asia::Shanghai), fixed(480));
        assert_eq!(word("at", Europe::Berlin), None);
    }
}
