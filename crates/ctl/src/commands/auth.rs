//! `auth`: log in and keep credentials as mmctl does.

use super::{Context, Outcome};
use crate::cli::{AuthCommand, LoginArgs};
use crate::client::{normalize_url, Client};
use crate::credentials::{Credentials, CredentialsFile, METHOD_PASSWORD, METHOD_TOKEN};
use crate::output::{print_json, text, Table};
use anyhow::{bail, Context as _, Result};
use serde_json::{json, Value};
use std::io::{BufRead, IsTerminal, Write};
use std::path::PathBuf;

pub async fn run(context: &Context, command: AuthCommand) -> Result<Outcome> {
    let path = &context.config_path;
    let mut file = CredentialsFile::load(path)?;
    match command {
        AuthCommand::Login(args) => {
            let credentials = login(args.url.as_str(), &args).await?;
            let name = credentials.name.clone();
            file.insert(credentials, !args.no_activate);
            file.save(path)?;
            eprintln!("credentials for {name:?} saved in {}", path.display());
        }
        AuthCommand::List => {
            if context.json {
                let listing: Vec<Value> = file.entries.values().map(public_view).collect();
                print_json(&Value::Array(listing));
            } else if file.entries.is_empty() {
                println!("there are no credentials yet: run `chorusctl auth login`");
            } else {
                let mut table = Table::new(&["ACTIVE", "NAME", "USERNAME", "INSTANCE URL"]);
                for credentials in file.entries.values() {
                    table.row(vec![
                        if credentials.active { "*" } else { "" }.to_string(),
                        credentials.name.clone(),
                        credentials.username.clone(),
                        credentials.instance_url.clone(),
                    ]);
                }
                print!("{}", table.render());
            }
        }
        AuthCommand::Switch { name } => {
            file.switch(&name)?;
            file.save(path)?;
            println!("credentials for {name:?} are now active");
        }
        AuthCommand::Current => {
            let Some(credentials) = file.active() else {
                bail!("no active credentials: run `chorusctl auth login`");
            };
            if context.json {
                print_json(&public_view(credentials));
            } else {
                println!(
                    "found credentials for connection {:?} as user {:?} at {:?}",
                    credentials.name, credentials.username, credentials.instance_url
                );
            }
        }
        AuthCommand::Delete { names } => {
            if names.is_empty() {
                bail!("name the credentials to delete (see `chorusctl auth list`)");
            }
            for name in &names {
                file.delete(name)?;
            }
            file.save(path)?;
            for name in names {
                println!("credentials for {name:?} deleted");
            }
        }
        AuthCommand::Renew(args) => {
            let Some(kept) = file.entries.get(&args.name).cloned() else {
                bail!(
                    "no credentials named {:?} (see `chorusctl auth list`)",
                    args.name
                );
            };
            if kept.auth_method == METHOD_TOKEN {
                bail!(
                    "{:?} logs in with an access token: log in again with a new one",
                    args.name
                );
            }
            let password = password(args.password_file.as_ref(), args.password.as_ref())?;
            let client = Client::new(&kept.instance_url, None)?;
            let (token, _) = client
                .login(&kept.username, &password, args.mfa_token.as_deref())
                .await?;
            let renewed = Credentials {
                auth_token: token,
                ..kept
            };
            file.insert(renewed, false);
            file.save(path)?;
            println!("credentials for {:?} renewed", args.name);
        }
        AuthCommand::Clean => {
            file.entries.clear();
            file.save(path)?;
            println!("all credentials deleted");
        }
    }
    Ok(Outcome::Success)
}

/// What `auth list --json` shows: never the token.
fn public_view(credentials: &Credentials) -> Value {
    json!({
        "name": credentials.name,
        "username": credentials.username,
        "instanceUrl": credentials.instance_url,
        "authMethod": credentials.auth_method,
        "active": credentials.active,
    })
}

async fn login(url: &str, args: &LoginArgs) -> Result<Credentials> {
    let instance_url = normalize_url(url);
    let name = match &args.name {
        Some(name) => name.clone(),
        None => prompt("Connection name: ")?,
    };
    if let Some(access_token) = &args.access_token {
        let client = Client::new(&instance_url, Some(access_token.clone()))?;
        let me = client
            .get("/users/me")
            .await
            .context("the access token does not log in")?;
        return Ok(Credentials {
            name,
            username: text(&me, "username"),
            auth_token: access_token.clone(),
            auth_method: METHOD_TOKEN.to_string(),
            instance_url,
            active: false,
        });
    }
    let username = match &args.username {
        Some(username) => username.clone(),
        None => prompt("Username: ")?,
    };
    let password = password(args.password_file.as_ref(), args.password.as_ref())?;
    let client = Client::new(&instance_url, None)?;
    let (token, user) = client
        .login(&username, &password, args.mfa_token.as_deref())
        .await?;
    Ok(Credentials {
        name,
        username: text(&user, "username"),
        auth_token: token,
        auth_method: METHOD_PASSWORD.to_string(),
        instance_url,
        active: false,
    })
}

/// --password-file, else --password / CHORUSCTL_PASSWORD, else a prompt on a terminal.
fn password(password_file: Option<&PathBuf>, password: Option<&String>) -> Result<String> {
    if let Some(path) = password_file {
        let contents = super::read_file(path)?;
        // The file's first line: editors add a trailing newline.
        return Ok(contents.lines().next().unwrap_or_default().to_string());
    }
    if let Some(password) = password {
        return Ok(password.clone());
    }
    if !std::io::stdin().is_terminal() {
        bail!("no password: use --password-file, CHORUSCTL_PASSWORD or --access-token");
    }
    Ok(rpassword::prompt_password("Password: ")?)
}

fn prompt(question: &str) -> Result<String> {
    if !std::io::stdin().is_terminal() {
        bail!(
            "missing {}: pass it as a flag",
            question.trim_end_matches([':', ' ']).to_lowercase()
        );
    }
    eprint!("{question}");
    std::io::stderr().flush()?;
    let mut answer = String::new();
    std::io::stdin().lock().read_line(&mut answer)?;
    let answer = answer.trim().to_string();
    if answer.is_empty() {
        bail!("{} cannot be empty", question.trim_end_matches([':', ' ']));
    }
    Ok(answer)
}
