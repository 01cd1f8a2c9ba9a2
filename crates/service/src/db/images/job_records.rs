//! What an import job records on its image's row and beside it, for the attempt that
//! takes the job over (issue 13 item 5, R-FLOW-ASYNC): the multipart upload the qcow2
//! is written with and its confirmed parts (`upload_parts`), the findings of a check
//! that passed, and a NORMAL image of the same source object whose qcow2 can be copied.

use crate::db::sql::{args, DbError};
use crate::db::Db;

/// What an attempt keeps on its image's row for the next one (issue 13 item 5).
#[derive(Clone, Copy)]
enum JobText {
    /// The multipart upload the qcow2 is being written with.
    OutputUpload,
    /// The findings of a check that passed (JSON).
    KeptFindings,
}

impl JobText {
    /// The `images` column it is kept in.
    fn column(self) -> &'static str {
        match self {
            JobText::OutputUpload => "output_upload",
            JobText::KeptFindings => "kept_findings",
        }
    }
}

impl Db {
    /// Record (or, with `None`, forget) the multipart upload an attempt writes image
    /// `id`'s qcow2 with (external store, issue 13): whoever takes the job over, or the
    /// start-up sweep, aborts it so no parts are left behind.
    pub fn set_output_upload(&self, id: &str, upload: Option<&str>) -> Result<(), DbError> {
        self.set_job_text(id, JobText::OutputUpload, upload)
    }

    /// A NORMAL image other than `not_id` imported from exactly `source_blob` (the same
    /// object version: bucket, key, ETag, size), with its stored and virtual sizes —
    /// its qcow2 can be copied instead of converting again (issue 13 item 5).
    pub fn normal_image_from(
        &self,
        source_blob: &str,
        not_id: &str,
    ) -> Result<Option<(String, i64, i64)>, DbError> {
        self.with(|c| {
            c.opt_row(
                "SELECT image_id, size_bytes, virtual_size FROM images WHERE source_blob = ?1 AND state = 'NORMAL' AND image_id <> ?2 ORDER BY finished_at LIMIT 1",
                args![source_blob, not_id],
            )?
            .map(|r| Ok((r.text(0)?, r.int(1)?, r.int(2)?)))
            .transpose()
        })
    }

    /// Keep the findings of an import whose check passed (JSON), so that a retake does
    /// not check again (issue 13 item 5).
    pub fn keep_findings(&self, id: &str, findings_json: &str) -> Result<(), DbError> {
        self.set_job_text(id, JobText::KeptFindings, Some(findings_json))
    }

    /// The findings [`Db::keep_findings`] kept for image `id`.
    pub fn kept_findings(&self, id: &str) -> Result<Option<String>, DbError> {
        self.job_text(id, JobText::KeptFindings)
    }

    /// Record a part of multipart upload `upload_id` the store confirmed (a later attempt
    /// resumes the upload with it; issue 13 item 5): (0-based index, ETag, hex MD5, size).
    pub fn record_part(
        &self,
        upload_id: &str,
        part: (i64, &str, &str, i64),
    ) -> Result<(), DbError> {
        let (index, etag, md5, size) = part;
        self.with(|c| {
            c.exec(
                "INSERT INTO upload_parts (upload_id, part_index, etag, md5, size) VALUES (?1, ?2, ?3, ?4, ?5) ON CONFLICT (upload_id, part_index) DO UPDATE SET etag = excluded.etag, md5 = excluded.md5, size = excluded.size",
                args![upload_id, index, etag, md5, size],
            )
            .map(|_| ())
        })
    }

    /// The parts recorded for `upload_id`: (index, ETag, hex MD5, size).
    pub fn recorded_parts(
        &self,
        upload_id: &str,
    ) -> Result<Vec<(i64, String, String, i64)>, DbError> {
        self.with(|c| {
            c.rows(
                "SELECT part_index, etag, md5, size FROM upload_parts WHERE upload_id = ?1 ORDER BY part_index LIMIT 10000",
                args![upload_id],
            )?
            .iter()
            .map(|r| Ok((r.int(0)?, r.text(1)?, r.text(2)?, r.int(3)?)))
            .collect()
        })
    }

    /// Forget the parts of `upload_id` (completed or aborted).
    pub fn forget_parts(&self, upload_id: &str) -> Result<(), DbError> {
        self.with(|c| {
            c.exec(
                "DELETE FROM upload_parts WHERE upload_id = ?1",
                args![upload_id],
            )
            .map(|_| ())
        })
    }

    /// Images that recorded a multipart upload (for the start-up sweep).
    pub fn images_with_upload(&self) -> Result<Vec<String>, DbError> {
        self.with(|c| {
            c.rows(
                "SELECT image_id FROM images WHERE output_upload IS NOT NULL LIMIT 10000",
                args![],
            )?
            .iter()
            .map(|r| r.text(0))
            .collect()
        })
    }

    /// The multipart upload recorded for image `id`, if any.
    pub fn output_upload(&self, id: &str) -> Result<Option<String>, DbError> {
        self.job_text(id, JobText::OutputUpload)
    }

    /// Set (or, with `None`, clear) column `col` of image `id`.
    fn set_job_text(&self, id: &str, col: JobText, v: Option<&str>) -> Result<(), DbError> {
        let sql = format!(
            "UPDATE images SET {} = ?2 WHERE image_id = ?1",
            col.column()
        );
        self.with(|c| c.exec(&sql, args![id, v]).map(|_| ()))
    }

    /// Column `col` of image `id`, if set.
    fn job_text(&self, id: &str, col: JobText) -> Result<Option<String>, DbError> {
        let sql = format!("SELECT {} FROM images WHERE image_id = ?1", col.column());
        self.with(|c| {
            c.opt_row(&sql, args![id])?
                .map(|r| r.opt_text(0))
                .transpose()
                .map(Option::flatten)
        })
    }
}
