//! ListBuckets (GET `/`): the caller's own buckets only — a tenant never sees
//! another's.

use super::errors::{esc, xml_ok, S3Error};
use super::router::Ctx;
use axum::response::Response;

pub fn run(ctx: &Ctx<'_>) -> Result<Response, S3Error> {
    let a = ctx.account()?;
    let mut body = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<ListAllMyBucketsResult xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\"><Owner><ID>{}</ID><DisplayName>{}</DisplayName></Owner><Buckets>",
        a.app_id,
        esc(&a.name)
    );
    for b in ctx.st.db.buckets(a.app_id)? {
        body.push_str(&format!(
            "<Bucket><Name>{}</Name><CreationDate>{}</CreationDate><Location>{r}</Location><BucketRegion>{r}</BucketRegion></Bucket>",
            esc(&b.name),
            crate::timefmt::s3_time(b.created_at),
            r = esc(&b.region)
        ));
    }
    body.push_str("</Buckets></ListAllMyBucketsResult>");
    Ok(xml_ok(body))
}
