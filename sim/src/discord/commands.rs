//! Application commands in the simulated Discord: bulk overwrites checked as a whole (a
//! command keeps its id when its name comes back), and the set registered per scope.
//! <https://discord.com/developers/docs/interactions/application-commands#bulk-overwrite-global-application-commands>

use axum::response::Response;
use serde_json::{Value, json};

use super::State;
use super::records::{CommandOverwrite, CommandScope};
use super::responses::snowflake_of;
use super::rest::{form_error, json_ok, missing_access};
use super::rules;

impl State {
    pub(crate) fn list_commands(&self, application: &str, scope: CommandScope) -> Response {
        if application.parse::<u64>().ok() != Some(self.config.application_id) {
            return missing_access();
        }
        let commands = self.command_sets.get(&scope).cloned().unwrap_or_default();
        json_ok(Value::Array(commands))
    }

    /// A bulk overwrite: checked as a whole, then the set is replaced; a command keeps its id
    /// when one of the same type and name was registered before.
    pub(crate) fn overwrite_commands(
        &mut self,
        application: &str,
        scope: CommandScope,
        body: &Value,
    ) -> Response {
        if application.parse::<u64>().ok() != Some(self.config.application_id) {
            return missing_access();
        }
        let problems = rules::check_commands(body);
        if !problems.is_empty() {
            return form_error(problems);
        }
        let previous = self.command_sets.get(&scope).cloned().unwrap_or_default();
        let given = body.as_array().cloned().unwrap_or_default();
        let mut registered = Vec::with_capacity(given.len());
        for command in given {
            let kind = command.get("type").and_then(Value::as_u64).unwrap_or(1);
            let name = command.get("name").cloned().unwrap_or(Value::Null);
            let kept = previous.iter().find(|p| {
                p.get("name") == Some(&name) && p.get("type").and_then(Value::as_u64) == Some(kind)
            });
            let id = match kept.and_then(|p| snowflake_of(p.get("id"))) {
                Some(id) => id,
                None => self.snowflake(),
            };
            let version = self.snowflake();
            let mut out = json!({
                "id": id.to_string(),
                "application_id": self.config.application_id.to_string(),
                "version": version.to_string(),
                "default_member_permissions": command.get("default_member_permissions").cloned().unwrap_or(Value::Null),
                "type": kind,
                "name": name,
                "name_localizations": command.get("name_localizations").cloned().unwrap_or(Value::Null),
                "description": command.get("description").cloned().unwrap_or_else(|| "".into()),
                "description_localizations": command.get("description_localizations").cloned().unwrap_or(Value::Null),
                "options": command.get("options").cloned().filter(|o| !o.is_null()).unwrap_or_else(|| json!([])),
                "dm_permission": command.get("dm_permission").cloned().unwrap_or(Value::Bool(true)),
                "contexts": command.get("contexts").cloned().unwrap_or(Value::Null),
                "integration_types": command.get("integration_types").cloned().filter(|o| !o.is_null()).unwrap_or_else(|| json!([0])),
                "nsfw": command.get("nsfw").cloned().unwrap_or(Value::Bool(false)),
            });
            if let CommandScope::Guild(guild) = scope {
                out["guild_id"] = guild.to_string().into();
            }
            registered.push(out);
        }
        self.command_sets.insert(scope, registered.clone());
        self.overwrites.push(CommandOverwrite {
            scope,
            commands: registered.clone(),
        });
        json_ok(Value::Array(registered))
    }
}

#[cfg(test)]
mod tests {
    use super::super::{SimDiscord, SimDiscordConfig};
    use super::*;

    #[test]
    fn registered_commands_read_as_serenitys_and_keep_their_ids() {
        let sim = SimDiscord::new(SimDiscordConfig::random());
        let mut state = sim.lock();
        let app = state.config.application_id.to_string();
        let body = json!([{ "name": "post", "description": "Schedule a post", "options": [
            { "type": 3, "name": "text", "description": "What", "required": true },
        ]}]);
        let first = state.overwrite_commands(&app, CommandScope::Global, &body);
        assert_eq!(first.status(), 200);
        let commands = state.command_sets[&CommandScope::Global].clone();
        let parsed: Vec<serenity::model::application::Command> =
            serde_json::from_value(Value::Array(commands.clone())).unwrap();
        assert_eq!(parsed[0].name, "post");
        state.overwrite_commands(&app, CommandScope::Global, &body);
        let again = &state.command_sets[&CommandScope::Global];
        assert_eq!(
            again[0]["id"], commands[0]["id"],
            "the same name keeps its id"
        );
        assert_ne!(again[0]["version"], commands[0]["version"]);
    }
}
