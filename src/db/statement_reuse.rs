//! The hot paths' statements are prepared once per connection and then reused: diesel keeps
//! them in its statement cache, and SQLite does not re-prepare them behind its back when new
//! values are bound (it would for `LIMIT ?`, `OFFSET ?` and `LIKE ?` without the query
//! planner stability guarantee; `.cargo/config.toml`). Checked with SQLite's own view of
//! the connection's prepared statements (`sqlite_stmt`).

use std::time::Duration;

use diesel::QueryableByName;
use diesel::RunQueryDsl;
use diesel::sql_types::{BigInt, Text};

use crate::config::DatabaseUrl;
use crate::db::models::{attempts, auth_users, sessions, users};
use crate::db::{self, Db};

#[derive(QueryableByName, Debug)]
struct Statement {
    #[diesel(sql_type = Text)]
    sql: String,
    /// Times SQLite re-prepared it (a schema change, or a bound value its plan depended on).
    #[diesel(sql_type = BigInt)]
    reprep: i64,
    /// Times it ran to completion or was reset.
    #[diesel(sql_type = BigInt)]
    run: i64,
}

const ROUNDS: i64 = 4;

#[tokio::test]
async fn hot_statements_are_prepared_once_and_reused() {
    let dir = std::env::temp_dir().join(format!("authql-stmt-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let url = DatabaseUrl::Sqlite(dir.join("stmt.db").to_string_lossy().into_owned());
    // One connection, so every round runs on the same statement cache.
    let db = Db::connect(&url, 1, Duration::from_secs(5)).expect("connect");
    db.migrate().expect("migrate");
    let statements = db
        .read(|conn| {
            let now = db::now();
            for i in 0..ROUNDS {
                // `me`: the session and its user; sign-in: the identity, the throttle's count
                // and the wait it reports; the users page with and without filters, the
                // values changing every round as a browsing admin's would.
                sessions::find_active_by_hash(conn, &format!("hash{i}"), now)?;
                auth_users::find(conn, "emailpass", &format!("user{i}@example.com"))?;
                attempts::count_since(conn, "account", &format!("emailpass:user{i}@example.com"), now)?;
                attempts::time_at(conn, "account", "emailpass:user@example.com", now, i)?;
                // A reservation on two keys and the refund of its success: one count, one
                // insert and one delete for the pair.
                let (account, ip) = (format!("emailpass:user{i}@example.com"), format!("10.0.0.{i}"));
                let windows = [
                    attempts::Window { scope: "account", subject: &account, since: now },
                    attempts::Window { scope: "ip", subject: &ip, since: now },
                ];
                attempts::count_each(conn, &windows)?;
                let ids = [db::new_id(), db::new_id()];
                attempts::insert_all(
                    conn,
                    &[
                        attempts::NewAttempt { id: &ids[0], scope: "account", subject: &account, attempted_at: now },
                        attempts::NewAttempt { id: &ids[1], scope: "ip", subject: &ip, attempted_at: now },
                    ],
                )?;
                attempts::delete_refunded(conn, &[("account", account.as_str())], &[ids[1].as_str()], now)?;
                users::find_live(conn, &format!("id{i}"))?;
                let search = users::UserQuery { q: Some(format!("name{i}")), role: Some("admin"), email: None };
                users::list_and_count(conn, &search, i * 20, 20)?;
                users::list_and_count(conn, &users::UserQuery::default(), i * 10, 10 + i)?;
                users::page_with_total(conn, &search, i * 20, 20)?;
                users::page_with_total(conn, &users::UserQuery::default(), i * 10, 10 + i)?;
            }
            Ok(diesel::sql_query("SELECT sql, reprep, run FROM sqlite_stmt WHERE sql NOT LIKE '%sqlite_stmt%'")
                .load::<Statement>(conn)?)
        })
        .await
        .expect("queries");
    let _ = std::fs::remove_dir_all(&dir);

    // The migrations' own statements were re-prepared by the schema changes they made.
    for s in statements.iter().filter(|s| !s.sql.contains("__diesel_schema_migrations")) {
        assert_eq!(s.reprep, 0, "re-prepared: {s:?}");
    }
    let ran = |fragment: &str, expected: usize| {
        let matching: Vec<&Statement> = statements.iter().filter(|s| s.sql.contains(fragment)).collect();
        assert_eq!(matching.len(), expected, "statements with {fragment}: {statements:#?}");
        for s in matching {
            assert_eq!(s.run, ROUNDS, "prepared once, run every round: {s:?}");
        }
    };
    ran("`sessions`.`token_hash` = ?", 1);
    ran("`auth_users`.`entity_id` = ?", 1);
    // One key counted alone, and two at once.
    ran("COUNT(*) FROM `auth_attempts`", 2);
    ran("LIMIT ?), (SELECT COUNT(*) FROM `auth_attempts`", 1);
    ran("INSERT INTO `auth_attempts`", 1);
    ran("DELETE FROM `auth_attempts`", 1);
    ran("ORDER BY `auth_attempts`.`attempted_at` ASC", 1);
    ran("`users`.`id` = ?", 1);
    // The page and its total, with the search and without, as two statements and as one:
    // six statements, each kept.
    ran("ORDER BY `users`.`created_at` DESC", 4);
    ran("COUNT(*) FROM `users`", 4);
}
