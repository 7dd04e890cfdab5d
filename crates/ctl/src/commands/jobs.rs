//! `job`: GET/POST /jobs, GET /jobs/{id}, POST /jobs/{id}/cancel.

use super::{Context, Outcome};
use crate::cli::JobCommand;
use crate::output::{done, print_json, text, utc_time, Table};
use anyhow::{bail, Result};
use serde_json::{json, Map, Value};

pub async fn run(context: &Context, command: JobCommand) -> Result<Outcome> {
    let client = context.client()?;
    match command {
        JobCommand::List {
            job_type,
            status,
            ids,
            page,
            per_page,
        } => {
            let jobs = if ids.is_empty() {
                let mut path = format!("/jobs?page={page}&per_page={}", per_page.clamp(1, 200));
                if let Some(job_type) = job_type {
                    path.push_str(&format!("&job_type={}", crate::client::segment(&job_type)));
                }
                if let Some(status) = status {
                    path.push_str(&format!("&status={}", crate::client::segment(&status)));
                }
                client
                    .get(&path)
                    .await?
                    .as_array()
                    .cloned()
                    .unwrap_or_default()
            } else {
                let mut jobs = Vec::new();
                for id in &ids {
                    jobs.push(client.get(&format!("/jobs/{id}")).await?);
                }
                jobs
            };
            if context.json {
                print_json(&Value::Array(jobs));
            } else {
                print!("{}", jobs_table(&jobs).render());
            }
        }
        JobCommand::Show { id } => {
            let job = client.get(&format!("/jobs/{id}")).await?;
            if context.json {
                print_json(&job);
            } else {
                print!("{}", jobs_table(std::slice::from_ref(&job)).render());
                if let Some(data) = job.get("data").filter(|data| !data.is_null()) {
                    println!("data: {data}");
                }
            }
        }
        JobCommand::Run { job_type, data } => {
            let mut fields = Map::new();
            for pair in &data {
                let Some((key, value)) = pair.split_once('=') else {
                    bail!("--data {pair:?} is not KEY=VALUE");
                };
                fields.insert(key.to_string(), Value::String(value.to_string()));
            }
            let job = client
                .post("/jobs", &json!({"type": job_type, "data": fields}))
                .await?;
            if context.json {
                print_json(&job);
            } else {
                println!(
                    "created job {} of type {}",
                    text(&job, "id"),
                    text(&job, "type")
                );
            }
        }
        JobCommand::Cancel { id } => {
            let answer = client
                .post(&format!("/jobs/{id}/cancel"), &json!({}))
                .await?;
            done(context.json, &answer, format!("job {id} canceled"));
        }
    }
    Ok(Outcome::Success)
}

fn jobs_table(jobs: &[Value]) -> Table {
    let mut table = Table::new(&["ID", "TYPE", "STATUS", "PROGRESS", "CREATED (UTC)"]);
    for job in jobs {
        table.row(vec![
            text(job, "id"),
            text(job, "type"),
            text(job, "status"),
            format!("{}%", text(job, "progress")),
            utc_time(job.get("create_at").and_then(Value::as_i64).unwrap_or(0)),
        ]);
    }
    table
}
