//! `/timezone [ZONE]`: show or set the person's time zone, in which their times are read
//! and shown. Abbreviations are refused for a zone name, which keeps daylight saving right.

use chrono::{DateTime, Utc};
use chrono_tz::Tz;

use super::{Arg, ArgKind, Command, Verb};
use crate::commands::args::ParseError;
use crate::commands::context::{Context, internal};
use crate::commands::reply::{Reply, bold, code, plain};

/// `/timezone`.
pub const VERB: Verb = Verb::new(
    "timezone",
    "/timezone ZONE",
    "your time zone (alone: show it)",
    parse,
)
.args(
    &[Arg::optional(
        "zone",
        ArgKind::Zone,
        "a zone name such as Europe/Berlin; without it, shows yours",
    )],
    "/timezone Europe/Berlin",
);

fn parse(args: &str) -> Result<Command, ParseError> {
    let zone = if args.is_empty() {
        None
    } else {
        Some(time_zone(args)?)
    };
    Ok(Command::TimeZone { zone })
}

/// Sets the zone, or shows the one in force.
pub(crate) async fn run(ctx: &Context<'_>, zone: Option<Tz>) -> Reply {
    match zone {
        Some(zone) => match ctx.app.set_time_zone(ctx.actor, zone).await {
            Ok(()) => Reply::time_zone(zone, ctx.now, true),
            Err(e) => internal(&e),
        },
        None => match ctx.app.zone_of(ctx.actor).await {
            Ok(zone) => Reply::time_zone(zone, ctx.now, false),
            Err(e) => internal(&e),
        },
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

/// An IANA zone in any case, with spaces for underscores (`america/new york`), `UTC`/`GMT`/`Z`,
/// or a unique city (`berlin`, `new york`).
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
    if !wanted.contains('/') {
        let mut cities = zones.filter(|tz| {
            tz.name()
                .rsplit('/')
                .next()
                .is_some_and(|city| city.eq_ignore_ascii_case(&wanted))
        });
        if let (Some(tz), None) = (cities.next(), cities.next()) {
            return Ok(*tz);
        }
    }
    Err(ParseError::UnknownZone {
        given: args.to_owned(),
    })
}

impl Reply {
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
            vec![plain("Change it with "), code("/timezone Europe/Berlin")],
        ])
    }
}

#[cfg(test)]
mod tests {
    use chrono_tz::Europe::Berlin;

    use super::*;
    use crate::commands::testing::utc;

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
