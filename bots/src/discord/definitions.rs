//! The slash commands Discord shows, made from the verb table: each verb with its arguments
//! as typed options (autocomplete where autopost can suggest, choices for the platform,
//! attachments for pictures). `autopost discord register` overwrites the registered set in
//! one bulk call; `doctor` compares what is registered with what this build would register.
//! <https://discord.com/developers/docs/interactions/application-commands>

use autopost::config::DiscordConfig;
use reqwest::Method;
use serde_json::{Value, json};

use super::rest::{Body, Call, Rest, RestError};
use super::wire::option;
use crate::commands::{ArgKind, VERBS, Verb};

/// A command as registered: its name and description.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Registered {
    /// Its name.
    pub name: String,
    /// Its description.
    pub description: String,
}

/// Every verb as a slash command (CHAT_INPUT), usable in servers and in DMs with the bot.
pub fn definitions() -> Value {
    Value::Array(VERBS.iter().map(|verb| definition(verb)).collect())
}

fn definition(verb: &Verb) -> Value {
    // Discord wants required options first.
    let mut args: Vec<_> = verb.args.iter().collect();
    args.sort_by_key(|arg| !arg.required);
    let options: Vec<Value> = args
        .into_iter()
        .map(|arg| {
            let mut option = json!({
                "type": option_type(arg.kind),
                "name": arg.name,
                "description": arg.about,
                "required": arg.required,
            });
            match arg.kind {
                ArgKind::Platform => {
                    option["choices"] = json!([
                        {"name": "X", "value": "x"},
                        {"name": "Facebook", "value": "facebook"},
                        {"name": "Instagram", "value": "instagram"},
                    ]);
                }
                ArgKind::When | ArgKind::Targets | ArgKind::Account | ArgKind::Zone => {
                    option["autocomplete"] = json!(true);
                }
                ArgKind::PostId => {
                    option["autocomplete"] = json!(true);
                    option["min_value"] = json!(1);
                }
                ArgKind::Choice(choices) => {
                    option["choices"] = choices
                        .iter()
                        .map(|c| json!({"name": c.label, "value": c.value}))
                        .collect();
                }
                ArgKind::Text | ArgKind::Image | ArgKind::File => {}
            }
            option
        })
        .collect();
    json!({
        "type": 1,
        "name": verb.name,
        "description": verb.description(),
        "options": options,
        // Servers and DMs with the bot; installed to servers.
        "contexts": [0, 1],
        "integration_types": [0],
    })
}

fn option_type(kind: ArgKind) -> u8 {
    match kind {
        ArgKind::PostId => option::INTEGER,
        ArgKind::Image | ArgKind::File => option::ATTACHMENT,
        ArgKind::When
        | ArgKind::Text
        | ArgKind::Platform
        | ArgKind::Account
        | ArgKind::Zone
        | ArgKind::Targets
        | ArgKind::Choice(_) => option::STRING,
    }
}

/// `applications/{id}/commands`, or a server's (`--guild`).
fn commands_path(config: &DiscordConfig, guild: Option<u64>) -> Result<String, RestError> {
    let application = config.application_id.ok_or(RestError::NotConfigured)?;
    Ok(match guild {
        Some(guild) => format!("applications/{application}/guilds/{guild}/commands"),
        None => format!("applications/{application}/commands"),
    })
}

fn rest(config: &DiscordConfig) -> Result<Rest, RestError> {
    if config.token.is_none() {
        return Err(RestError::NotConfigured);
    }
    let http = autopost::platforms::http::client().map_err(RestError::Unreachable)?;
    Ok(Rest::new(http, &config.api_url, config.token.as_ref()))
}

/// Overwrites the registered commands (globally, or in one server) with [`definitions`];
/// returns what Discord now has.
pub async fn register(
    config: &DiscordConfig,
    guild: Option<u64>,
) -> Result<Vec<Registered>, RestError> {
    let path = commands_path(config, guild)?;
    let call = Call::bot(Method::PUT, path, "commands".to_owned());
    let answer = rest(config)?.send(&call, Body::Json(definitions())).await?;
    Ok(read_registered(&answer))
}

/// Whether the registered commands are the ones this build would register (by name,
/// description and options); `Err` when Discord cannot be asked.
pub async fn registered_matches(
    config: &DiscordConfig,
    guild: Option<u64>,
) -> Result<bool, RestError> {
    let path = commands_path(config, guild)?;
    let call = Call::bot(Method::GET, path, "commands".to_owned());
    let answer = rest(config)?.send(&call, Body::Empty).await?;
    Ok(same_commands(&answer, &definitions()))
}

fn read_registered(answer: &Value) -> Vec<Registered> {
    answer
        .as_array()
        .map(|commands| {
            commands
                .iter()
                .map(|c| Registered {
                    name: c["name"].as_str().unwrap_or_default().to_owned(),
                    description: c["description"].as_str().unwrap_or_default().to_owned(),
                })
                .collect()
        })
        .unwrap_or_default()
}

/// Compares what matters of two command sets, ignoring what Discord adds (ids, versions)
/// and the order of commands.
fn same_commands(registered: &Value, wanted: &Value) -> bool {
    let shape = |set: &Value| -> Vec<Value> {
        let mut commands: Vec<Value> = set
            .as_array()
            .map(|commands| {
                commands
                    .iter()
                    .map(|c| {
                        let options: Vec<Value> = c["options"]
                            .as_array()
                            .map(|options| {
                                options
                                    .iter()
                                    .map(|o| {
                                        json!([
                                            o["name"],
                                            o["type"],
                                            o["required"].as_bool().unwrap_or(false),
                                            o["autocomplete"].as_bool().unwrap_or(false),
                                        ])
                                    })
                                    .collect()
                            })
                            .unwrap_or_default();
                        json!([c["name"], c["description"], options])
                    })
                    .collect()
            })
            .unwrap_or_default();
        commands.sort_by_key(|c| c[0].as_str().unwrap_or_default().to_owned());
        commands
    };
    shape(registered) == shape(wanted)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_verb_becomes_a_command_discord_accepts() {
        let all = definitions();
        let commands = all.as_array().unwrap();
        assert_eq!(commands.len(), VERBS.len());
        for command in commands {
            let name = command["name"].as_str().unwrap();
            assert!((1..=32).contains(&name.len()), "{name}");
            let description = command["description"].as_str().unwrap();
            assert!(
                (1..=100).contains(&description.chars().count()),
                "{description}"
            );
            let options = command["options"].as_array().unwrap();
            assert!(options.len() <= 25);
            let mut optional_seen = false;
            for option in options {
                let about = option["description"].as_str().unwrap();
                assert!((1..=100).contains(&about.chars().count()), "{about}");
                let required = option["required"].as_bool().unwrap();
                assert!(
                    !(required && optional_seen),
                    "required options first: {name}"
                );
                optional_seen |= !required;
                if option["autocomplete"] == json!(true) {
                    assert!(matches!(option["type"].as_u64(), Some(3 | 4)));
                    assert!(option.get("choices").is_none());
                }
            }
        }
        let post = commands.iter().find(|c| c["name"] == "post").unwrap();
        let names: Vec<&str> = post["options"]
            .as_array()
            .unwrap()
            .iter()
            .map(|o| o["name"].as_str().unwrap())
            .collect();
        assert_eq!(
            names,
            [
                "when",
                "text",
                "to",
                "x_text",
                "facebook_text",
                "instagram_text",
                "image1",
                "image2",
                "image3",
                "image4",
                "numbered"
            ]
        );
        let image = &post["options"][6];
        assert_eq!(image["type"], 11);
        let cancel = commands.iter().find(|c| c["name"] == "cancel").unwrap();
        assert_eq!(cancel["options"][0]["type"], 4);
        assert_eq!(cancel["options"][0]["autocomplete"], true);
    }

    #[test]
    fn a_registered_set_matches_whatever_discord_added_and_in_any_order() {
        let wanted = definitions();
        let mut registered = wanted.clone();
        let commands = registered.as_array_mut().unwrap();
        commands.reverse();
        for (i, command) in commands.iter_mut().enumerate() {
            command["id"] = json!(format!("{}", 1000 + i));
            command["version"] = json!("1");
        }
        assert!(same_commands(&registered, &wanted));
        registered.as_array_mut().unwrap().pop();
        assert!(!same_commands(&registered, &wanted));
    }
}
