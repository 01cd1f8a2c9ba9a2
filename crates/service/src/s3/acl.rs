//! ACLs (R-ERR InvalidUrl: "the object is not public-read"): a bucket is `private` or
//! `public-read`; an object is `default` (follows its bucket, COS semantics),
//! `private` or `public-read`. Set by the canned `x-amz-acl` / `x-cos-acl` header on
//! CreateBucket, PutObject, CreateMultipartUpload, or PUT `?acl` (header or an
//! AccessControlPolicy document); read by GET `?acl`. Other canned ACLs and grants
//! (`public-read-write`, `x-amz-grant-*`, …) are refused rather than half applied.

use super::errors::{esc, xml_ok, S3Error};
use super::router::Ctx;
use super::xml;
use crate::db::buckets::Bucket;
use crate::db::objects::{ACL_DEFAULT, ACL_PRIVATE, ACL_PUBLIC_READ};
use axum::body::Body;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

const ALL_USERS: &str = "http://acs.amazonaws.com/groups/global/AllUsers";
/// Largest AccessControlPolicy document read.
const MAX_ACL_XML: usize = 64 * 1024;

/// Whether an object is readable by anyone, given its ACL and its bucket's.
pub fn object_public(object_acl: &str, bucket: &Bucket) -> bool {
    object_acl == ACL_PUBLIC_READ || (object_acl == ACL_DEFAULT && bucket.public_read)
}

/// The canned ACL the request sets, if any: `private`, `public-read`, and for objects
/// `default`. `for_object` allows `default`.
pub fn canned(ctx: &Ctx<'_>, for_object: bool) -> Result<Option<&'static str>, S3Error> {
    if let Some((name, _)) = ctx.headers.iter().find(|(k, _)| {
        let k = k.as_str();
        k.starts_with("x-amz-grant-") || k.starts_with("x-cos-grant-")
    }) {
        return Err(S3Error::not_implemented(&format!(
            "The {name} header (explicit grants; use the canned ACL private or public-read)"
        )));
    }
    let Some(v) = ctx.header("x-amz-acl").or(ctx.header("x-cos-acl")) else {
        return Ok(None);
    };
    match v.trim() {
        "private" => Ok(Some(ACL_PRIVATE)),
        "public-read" => Ok(Some(ACL_PUBLIC_READ)),
        "default" if for_object => Ok(Some(ACL_DEFAULT)),
        other => Err(S3Error::bad(
            "InvalidArgument",
            format!(
                "The canned ACL {:?} is not supported: use private or public-read{}.",
                imgport_policy::text::clip(other, 40),
                if for_object {
                    " (or default, to follow the bucket)"
                } else {
                    ""
                }
            ),
        )
        .with("ArgumentName", "x-amz-acl")),
    }
}

/// The ACL an AccessControlPolicy document sets: only owner FULL_CONTROL plus
/// optionally AllUsers READ can be expressed here.
fn from_policy(doc: &str) -> Result<&'static str, S3Error> {
    let mut public = false;
    for grant in xml::all(doc, "Grant") {
        let perm = xml::first(grant, "Permission").unwrap_or_default();
        let uri = xml::first(grant, "URI");
        match (uri.as_deref(), perm.as_str()) {
            (Some(ALL_USERS), "READ") => public = true,
            (None, "FULL_CONTROL") => {}
            (u, p) => {
                return Err(S3Error::not_implemented(&format!(
                    "The grant of {p} to {} (only private and public-read ACLs exist here)",
                    u.unwrap_or("a user")
                )))
            }
        }
    }
    Ok(if public { ACL_PUBLIC_READ } else { ACL_PRIVATE })
}

/// The ACL a PUT `?acl` request sets: canned header, else the document.
async fn requested(ctx: &Ctx<'_>, body: Body, for_object: bool) -> Result<&'static str, S3Error> {
    if let Some(c) = canned(ctx, for_object)? {
        return Ok(c);
    }
    let bytes = axum::body::to_bytes(body, MAX_ACL_XML)
        .await
        .map_err(|_| S3Error::bad("MalformedACLError", "The ACL document is too large."))?;
    let text = String::from_utf8_lossy(&bytes);
    if !text.contains("AccessControlPolicy") {
        return Err(S3Error::bad(
            "MalformedACLError",
            "Send x-amz-acl (or x-cos-acl): private or public-read, or an AccessControlPolicy document.",
        ));
    }
    from_policy(&text)
}

fn policy(owner: i64, owner_name: &str, public: bool) -> String {
    let mut s = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<AccessControlPolicy xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\"><Owner><ID>{owner}</ID><DisplayName>{n}</DisplayName></Owner><AccessControlList><Grant><Grantee xmlns:xsi=\"http://www.w3.org/2001/XMLSchema-instance\" xsi:type=\"CanonicalUser\"><ID>{owner}</ID><DisplayName>{n}</DisplayName></Grantee><Permission>FULL_CONTROL</Permission></Grant>",
        n = esc(owner_name)
    );
    if public {
        s.push_str(&format!("<Grant><Grantee xmlns:xsi=\"http://www.w3.org/2001/XMLSchema-instance\" xsi:type=\"Group\"><URI>{ALL_USERS}</URI></Grantee><Permission>READ</Permission></Grant>"));
    }
    s.push_str("</AccessControlList></AccessControlPolicy>");
    s
}

fn owner_name(ctx: &Ctx<'_>, app_id: i64) -> String {
    ctx.st
        .db
        .account(app_id)
        .ok()
        .flatten()
        .map(|a| a.name)
        .unwrap_or_default()
}

/// GET `/bucket?acl`.
pub fn get_bucket_acl(ctx: &Ctx<'_>, bucket: &str) -> Result<Response, S3Error> {
    let b = ctx.owned_bucket(bucket)?;
    Ok(xml_ok(policy(
        b.app_id,
        &owner_name(ctx, b.app_id),
        b.public_read,
    )))
}

/// PUT `/bucket?acl`.
pub async fn put_bucket_acl(ctx: &Ctx<'_>, bucket: &str, body: Body) -> Result<Response, S3Error> {
    let b = ctx.owned_bucket(bucket)?;
    let acl = requested(ctx, body, false).await?;
    ctx.st
        .db
        .set_bucket_public_read(&b.name, acl == ACL_PUBLIC_READ)?;
    Ok(StatusCode::OK.into_response())
}

/// GET `/bucket/key?acl`: the effective grants.
pub fn get_object_acl(ctx: &Ctx<'_>, bucket: &str, key: &str) -> Result<Response, S3Error> {
    let b = ctx.owned_bucket(bucket)?;
    let o = ctx
        .st
        .db
        .object(bucket, key)?
        .ok_or_else(|| S3Error::no_such_key(key))?;
    Ok(xml_ok(policy(
        b.app_id,
        &owner_name(ctx, b.app_id),
        object_public(&o.acl, &b),
    )))
}

/// PUT `/bucket/key?acl`.
pub async fn put_object_acl(
    ctx: &Ctx<'_>,
    bucket: &str,
    key: &str,
    body: Body,
) -> Result<Response, S3Error> {
    let b = ctx.owned_bucket(bucket)?;
    let acl = requested(ctx, body, true).await?;
    if !ctx.st.db.set_object_acl(&b.name, key, acl)? {
        return Err(S3Error::no_such_key(key));
    }
    Ok(StatusCode::OK.into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn policies() {
        let public = policy(1, "a", true);
        assert_eq!(from_policy(&public).unwrap(), ACL_PUBLIC_READ);
        assert_eq!(from_policy(&policy(1, "a", false)).unwrap(), ACL_PRIVATE);
        let write = public.replace(
            "<Permission>READ</Permission>",
            "<Permission>WRITE</Permission>",
        );
        assert_eq!(from_policy(&write).unwrap_err().code, "NotImplemented");
        let b = Bucket {
            name: "b".into(),
            app_id: 1,
            region: "r".into(),
            public_read: true,
            created_at: 0,
        };
        assert!(object_public(ACL_DEFAULT, &b));
        assert!(!object_public(ACL_PRIVATE, &b));
        assert!(object_public(
            ACL_PUBLIC_READ,
            &Bucket {
                public_read: false,
                ..b.clone()
            }
        ));
        assert!(!object_public(
            ACL_DEFAULT,
            &Bucket {
                public_read: false,
                ..b
            }
        ));
    }
}
