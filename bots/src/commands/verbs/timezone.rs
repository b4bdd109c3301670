//! `/timezone [ZONE]`, `/timezone chat ZONE`: show or set the person's time zone, in which
//! their times are read and shown, or (admins) the chat's, used for people who set none. A
//! zone is an IANA name or a city; abbreviations are refused, which keeps daylight saving
//! right.

use autopost::people::TimeZones;
use chrono::{DateTime, Utc};
use chrono_tz::Tz;

use super::{Arg, ArgKind, Command, Verb, Who};
use crate::commands::args::{NamedArgs, ParseError};
use crate::commands::context::{Context, internal};
use crate::commands::reply::{Reply, bold, code, plain};

/// `/timezone`.
pub const VERB: Verb = Verb::new(
    "timezone",
    "/timezone ZONE",
    "your time zone or city (alone: show it)",
    parse,
)
.args(
    &[
        Arg::optional(
            "zone",
            ArgKind::Zone,
            "a zone or city such as Europe/Berlin or Lisbon; without it, shows yours",
        ),
        Arg::optional(
            "chat",
            ArgKind::Zone,
            "this chat's zone, for people who set none (admins)",
        ),
    ],
    "/timezone Europe/Berlin",
)
.notes(&[
    "A city works too: `/timezone Lisbon`, `/timezone new york`.",
    "`/timezone chat Europe/Berlin`: the chat's zone, for people who set none (admins).",
])
.named(parse_named);

/// `/timezone chat ZONE`: not a verb of its own in menus, but run only by a chat admin.
pub const CHAT_VERB: Verb = Verb::new(
    "timezone",
    "/timezone chat ZONE",
    "this chat's time zone, for people who set none",
    parse,
)
.who(Who::Admin {
    to: "set this chat's time zone",
})
.unlisted();

fn parse(args: &str) -> Result<Command, ParseError> {
    let args = args.trim();
    let (first, rest) = args.split_once(char::is_whitespace).unwrap_or((args, ""));
    if first.eq_ignore_ascii_case("chat") {
        return Ok(match rest.trim() {
            "" => Command::TimeZone { zone: None },
            zone => Command::ChatTimeZone {
                zone: time_zone(zone)?,
            },
        });
    }
    let zone = if args.is_empty() {
        None
    } else {
        Some(time_zone(args)?)
    };
    Ok(Command::TimeZone { zone })
}

/// Discord's options: `zone` for the person's, `chat` for the chat's.
fn parse_named(named: &NamedArgs) -> Result<Command, ParseError> {
    let given = |name: &str| named.text(name).filter(|text| !text.trim().is_empty());
    match (given("zone"), given("chat")) {
        (Some(_), Some(_)) => Err(ParseError::TwoZones),
        (None, Some(chat)) => Ok(Command::ChatTimeZone {
            zone: time_zone(chat.trim())?,
        }),
        (Some(zone), None) => parse(&zone),
        (None, None) => Ok(Command::TimeZone { zone: None }),
    }
}

/// Sets the person's zone, or shows the zones that apply to them.
pub(crate) async fn run(ctx: &Context<'_>, zone: Option<Tz>) -> Reply {
    match zone {
        Some(zone) => match ctx.app.set_time_zone(ctx.actor, zone).await {
            Ok(()) => Reply::time_zone(zone, ctx.now, true),
            Err(e) => internal(&e),
        },
        None => match ctx.app.time_zones(ctx.actor).await {
            Ok(zones) => Reply::time_zones(&zones, ctx.now),
            Err(e) => internal(&e),
        },
    }
}

/// Sets the chat's zone; the runner let only an admin through.
pub(crate) async fn run_chat(ctx: &Context<'_>, zone: Tz) -> Reply {
    match ctx.app.set_chat_time_zone(ctx.actor, zone).await {
        Ok(()) => Reply::chat_time_zone(zone, ctx.now),
        Err(e) => internal(&e),
    }
}

/// Abbreviations people type for their zone, and the zone name they usually mean. Setting
/// one of these literally would pin a fixed offset (or not exist), so the user is asked to use
/// the name instead.
const ABBREVIATIONS: &[(&str, &str)] = &[
    ("est", "America/New_York"),
    ("edt", "America/New_York"),
    ("et", "America/New_York"),
    ("cst", "America/Chicago"),
    ("cdt", "America/Chicago"),
    ("ct", "America/Chicago"),
    ("mst", "America/Denver"),
    ("mdt", "America/Denver"),
    ("mt", "America/Denver"),
    ("pst", "America/Los_Angeles"),
    ("pdt", "America/Los_Angeles"),
    ("pt", "America/Los_Angeles"),
    ("hst", "Pacific/Honolulu"),
    ("akst", "America/Anchorage"),
    ("akdt", "America/Anchorage"),
    ("bst", "Europe/London"),
    ("wet", "Europe/Lisbon"),
    ("west", "Europe/Lisbon"),
    ("cet", "Europe/Berlin"),
    ("cest", "Europe/Berlin"),
    ("met", "Europe/Berlin"),
    ("eet", "Europe/Athens"),
    ("eest", "Europe/Athens"),
    ("msk", "Europe/Moscow"),
    ("ist", "Asia/Kolkata"),
    ("jst", "Asia/Tokyo"),
    ("kst", "Asia/Seoul"),
    ("sgt", "Asia/Singapore"),
    ("hkt", "Asia/Hong_Kong"),
    ("aest", "Australia/Sydney"),
    ("aedt", "Australia/Sydney"),
    ("acst", "Australia/Adelaide"),
    ("awst", "Australia/Perth"),
    ("nzst", "Pacific/Auckland"),
    ("nzdt", "Pacific/Auckland"),
];

/// Big cities that are not zone names, and the zone they are in.
const CITIES: &[(&str, &str)] = &[
    ("san francisco", "America/Los_Angeles"),
    ("seattle", "America/Los_Angeles"),
    ("las vegas", "America/Los_Angeles"),
    ("san diego", "America/Los_Angeles"),
    ("portland", "America/Los_Angeles"),
    ("boston", "America/New_York"),
    ("washington", "America/New_York"),
    ("washington dc", "America/New_York"),
    ("miami", "America/New_York"),
    ("atlanta", "America/New_York"),
    ("philadelphia", "America/New_York"),
    ("dallas", "America/Chicago"),
    ("houston", "America/Chicago"),
    ("austin", "America/Chicago"),
    ("montreal", "America/Toronto"),
    ("ottawa", "America/Toronto"),
    ("rio de janeiro", "America/Sao_Paulo"),
    ("munich", "Europe/Berlin"),
    ("frankfurt", "Europe/Berlin"),
    ("hamburg", "Europe/Berlin"),
    ("cologne", "Europe/Berlin"),
    ("geneva", "Europe/Zurich"),
    ("milan", "Europe/Rome"),
    ("barcelona", "Europe/Madrid"),
    ("lyon", "Europe/Paris"),
    ("marseille", "Europe/Paris"),
    ("rotterdam", "Europe/Amsterdam"),
    ("krakow", "Europe/Warsaw"),
    ("manchester", "Europe/London"),
    ("edinburgh", "Europe/London"),
    ("st petersburg", "Europe/Moscow"),
    ("saint petersburg", "Europe/Moscow"),
    ("tel aviv", "Asia/Jerusalem"),
    ("abu dhabi", "Asia/Dubai"),
    ("mumbai", "Asia/Kolkata"),
    ("delhi", "Asia/Kolkata"),
    ("new delhi", "Asia/Kolkata"),
    ("bangalore", "Asia/Kolkata"),
    ("bengaluru", "Asia/Kolkata"),
    ("beijing", "Asia/Shanghai"),
    ("shenzhen", "Asia/Shanghai"),
    ("osaka", "Asia/Tokyo"),
    ("hanoi", "Asia/Bangkok"),
    ("cape town", "Africa/Johannesburg"),
];

/// How names are compared: lower case, with `_`, `-`, `.` and runs of spaces as one space.
fn normalized(text: &str) -> String {
    text.split(|c: char| c.is_whitespace() || matches!(c, '_' | '-' | '.'))
        .filter(|word| !word.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
        .to_lowercase()
}

/// An IANA zone in any case, with spaces for underscores (`america/new york`), `UTC`/`GMT`/`Z`,
/// or a city: a zone's last part (`lisbon`, `new york`) or a big city that names no zone
/// (`munich`, `san francisco`).
fn time_zone(args: &str) -> Result<Tz, ParseError> {
    let wanted = args.split_whitespace().collect::<Vec<_>>().join("_");
    let lower = wanted.to_ascii_lowercase();
    if matches!(
        lower.as_str(),
        "utc" | "gmt" | "z" | "zulu" | "etc/utc" | "etc/gmt"
    ) {
        return Ok(Tz::UTC);
    }
    if let Some((_, suggestion)) = ABBREVIATIONS.iter().find(|(a, _)| *a == lower) {
        return Err(ParseError::ZoneAbbreviation {
            given: wanted.to_ascii_uppercase(),
            suggestion,
        });
    }
    let zones = chrono_tz::TZ_VARIANTS.iter();
    if let Some(tz) = zones
        .clone()
        .find(|tz| tz.name().eq_ignore_ascii_case(&wanted))
    {
        return Ok(*tz);
    }
    let city = normalized(args);
    if !wanted.contains('/') && !city.is_empty() {
        if let Some(tz) = CITIES
            .iter()
            .find(|(name, _)| *name == city)
            .and_then(|(_, zone)| zone.parse::<Tz>().ok())
        {
            return Ok(tz);
        }
        // Where old and new names share a city (`America/Indianapolis`,
        // `America/Indiana/Indianapolis`), they are the same zone: the longer, current name.
        if let Some(tz) = zones
            .filter(|tz| {
                tz.name()
                    .rsplit('/')
                    .next()
                    .is_some_and(|last| normalized(last) == city)
            })
            .max_by_key(|tz| tz.name().len())
        {
            return Ok(*tz);
        }
    }
    Err(ParseError::UnknownZone {
        given: args.to_owned(),
    })
}

impl Reply {
    /// `/timezone` alone: the person's zone and the chat's, and which one is in force, with
    /// the time there now.
    pub fn time_zones(zones: &TimeZones, now: DateTime<Utc>) -> Reply {
        let at = |zone: Tz| {
            plain(format!(
                " (it is {} there now).",
                now.with_timezone(&zone).format("%a %H:%M")
            ))
        };
        let mine = match zones.person {
            Some(zone) => vec![plain("Your time zone is "), bold(zone.name()), at(zone)],
            None => {
                let whose = if zones.chat.is_some() {
                    "this chat's"
                } else {
                    "autopost's default"
                };
                let zone = zones.in_force();
                vec![
                    plain(format!("You have not set a time zone; you get {whose}, ")),
                    bold(zone.name()),
                    at(zone),
                ]
            }
        };
        let chat = match zones.chat {
            Some(zone) => vec![
                plain("This chat's time zone, for people who set none, is "),
                bold(zone.name()),
                plain("."),
            ],
            None => vec![
                plain("This chat has no time zone of its own; people who set none get "),
                bold(zones.default.name()),
                plain("."),
            ],
        };
        Reply::lines(vec![
            mine,
            chat,
            vec![
                plain("Set yours with "),
                code("/timezone Europe/Berlin"),
                plain(" or a city ("),
                code("/timezone Lisbon"),
                plain("); an admin sets the chat's with "),
                code("/timezone chat Europe/Berlin"),
                plain("."),
            ],
        ])
    }

    /// `/timezone chat ZONE` done.
    pub fn chat_time_zone(zone: Tz, now: DateTime<Utc>) -> Reply {
        Reply::lines(vec![vec![
            plain("This chat's time zone is now "),
            bold(zone.name()),
            plain(format!(
                " (it is {} there now); people here who set none of their own get it.",
                now.with_timezone(&zone).format("%a %H:%M")
            )),
        ]])
    }

    /// `/timezone`: the zone in force (or just set) and the time there now, so that a wrong
    /// choice shows at once.
    pub fn time_zone(zone: Tz, now: DateTime<Utc>, changed: bool) -> Reply {
        let first = if changed {
            "Your time zone is now "
        } else {
            "Your time zone is "
        };
        Reply::lines(vec![
            vec![
                plain(first),
                bold(zone.name()),
                plain(format!(
                    " (it is {} there now).",
                    now.with_timezone(&zone).format("%a %H:%M")
                )),
            ],
            vec![
                plain("Change it with "),
                code("/timezone Europe/Berlin"),
                plain(" or a city, such as "),
                code("/timezone Lisbon"),
            ],
        ])
    }
}

#[cfg(test)]
mod tests {
    use chrono_tz::Europe::Berlin;

    use super::*;
    use crate::commands::testing::utc;

    #[test]
    fn cities_find_their_zone_in_any_spelling() {
        use chrono_tz::{America, Asia, Europe};
        for (typed, zone) in [
            ("Lisbon", Europe::Lisbon),
            ("new york", America::New_York),
            ("NEW_YORK", America::New_York),
            ("  New   York ", America::New_York),
            ("San Francisco", America::Los_Angeles),
            ("munich", Europe::Berlin),
            ("Mumbai", Asia::Kolkata),
            ("st. petersburg", Europe::Moscow),
            ("port-au-prince", America::PortauPrince),
            ("indianapolis", America::Indiana::Indianapolis),
            ("Europe/Berlin", Europe::Berlin),
        ] {
            assert_eq!(time_zone(typed), Ok(zone), "{typed}");
        }
        for bad in ["Atlantis", "Mars/Olympus", "new", "+05:30", "berlin/europe"] {
            assert!(
                matches!(time_zone(bad), Err(ParseError::UnknownZone { .. })),
                "{bad}"
            );
        }
    }

    #[test]
    fn the_chat_form_and_the_options_read_the_chats_zone() {
        use crate::commands::ArgValue;
        assert_eq!(
            parse("chat Europe/Berlin"),
            Ok(Command::ChatTimeZone { zone: Berlin })
        );
        assert_eq!(parse("Chat"), Ok(Command::TimeZone { zone: None }));
        assert!(parse("chat Atlantis").is_err());
        let named = |pairs: &[(&str, &str)]| {
            NamedArgs::new(
                pairs
                    .iter()
                    .map(|(n, v)| ((*n).to_owned(), ArgValue::Text((*v).to_owned())))
                    .collect(),
            )
        };
        assert_eq!(
            parse_named(&named(&[("chat", "berlin")])),
            Ok(Command::ChatTimeZone { zone: Berlin })
        );
        assert_eq!(
            parse_named(&named(&[("zone", "berlin")])),
            Ok(Command::TimeZone { zone: Some(Berlin) })
        );
        assert_eq!(
            parse_named(&named(&[("zone", "utc"), ("chat", "berlin")])),
            Err(ParseError::TwoZones)
        );
    }

    #[test]
    fn the_answer_shows_the_zone_and_the_time_there_now() {
        let zone = Reply::time_zone(Berlin, utc(2026, 7, 1, 10, 0), true).to_telegram_html();
        assert!(
            zone.starts_with(
                "Your time zone is now <b>Europe/Berlin</b> (it is Wed 12:00 there now)."
            ),
            "{zone}"
        );
    }
}
