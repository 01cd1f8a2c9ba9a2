//! Reading many images at once: `DescribeImages`' filtered, paged list of one account
//! (R-FLOW-RESULT; filtering and paging in SQL) and the counts by state and phase the
//! metrics show.

use super::{rows, Image, ImageFilter, COLS};
use crate::db::sql::{args, DbError, ToVal, Val};
use crate::db::Db;

impl Db {
    /// Images of `app_id` matching `f`, newest first: (page, total). Filtering and
    /// paging happen in SQL; the caller bounds the lists and `limit`.
    pub fn images(
        &self,
        app_id: i64,
        f: &ImageFilter,
        offset: i64,
        limit: i64,
    ) -> Result<(Vec<Image>, i64), DbError> {
        let mut args: Vec<Val> = vec![app_id.to_val()];
        let mut sql = String::from(" FROM images WHERE app_id = ?1");
        if let Some(r) = &f.region {
            args.push(r.to_val());
            sql.push_str(&format!(" AND region = ?{}", args.len()));
        }
        for (col, values) in [
            ("image_id", &f.ids),
            ("name", &f.names),
            ("state", &f.states),
            ("os_type", &f.platforms),
        ] {
            if values.is_empty() {
                continue;
            }
            let mut marks = Vec::with_capacity(values.len());
            for v in values {
                args.push(v.to_val());
                marks.push(format!("?{}", args.len()));
            }
            sql.push_str(&format!(" AND {col} IN ({})", marks.join(",")));
        }
        self.with(|c| {
            let total = c.int(&format!("SELECT COUNT(*){sql}"), &args)?;
            let mut page_args = args.clone();
            page_args.push(limit.max(0).to_val());
            page_args.push(offset.max(0).to_val());
            let page = rows(&c.rows(
                &format!(
                    "SELECT {COLS}{sql} ORDER BY created_at DESC, image_id LIMIT ?{} OFFSET ?{}",
                    page_args.len() - 1,
                    page_args.len()
                ),
                &page_args,
            )?)?;
            Ok((page, total))
        })
    }

    /// Images by state (metrics).
    pub fn image_state_counts(&self) -> Result<Vec<(String, i64)>, DbError> {
        self.with(|c| {
            c.rows(
                "SELECT state, COUNT(*) FROM images GROUP BY state ORDER BY state",
                args![],
            )?
            .iter()
            .map(|r| Ok((r.text(0)?, r.int(1)?)))
            .collect()
        })
    }

    /// Importing images by phase (metrics).
    pub fn importing_phase_counts(&self) -> Result<Vec<(String, i64)>, DbError> {
        self.with(|c| {
            c.rows(
                "SELECT phase, COUNT(*) FROM images WHERE state = 'IMPORTING' GROUP BY phase ORDER BY phase",
                args![],
            )?
            .iter()
            .map(|r| Ok((r.text(0)?, r.int(1)?)))
            .collect()
        })
    }
}
