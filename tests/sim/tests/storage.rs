//! Cloud Storage as a Nix binary cache: the owner makes a private bucket, grants CI
//! and the VM their roles; CI uploads, the VM reads with its metadata-server token,
//! and everyone else meets Cloud Storage's own errors.

mod common;

use common::*;
use serde_json::{json, Value};

const VM: &str = "claw-demo/us-central1-a/cache-vm";
const VM_SA: &str = "bot-vm@claw-demo.iam.gserviceaccount.com";
const CI_SA: &str = "bot-ci@claw-demo.iam.gserviceaccount.com";
const READ_ONLY: &str = "https://www.googleapis.com/auth/devstorage.read_only";
const CLOUD: &str = "https://www.googleapis.com/auth/cloud-platform";

fn upload(sim: &TestSim, token: &str, bucket: &str, name: &str, data: &[u8]) -> Resp {
    sim.send_raw(
        "POST",
        &format!("/upload/storage/v1/b/{bucket}/o?uploadType=media&name={name}"),
        &[
            ("Authorization", &format!("Bearer {token}")),
            ("Content-Type", "text/x-nix-narinfo"),
        ],
        data,
    )
}

/// `buckets.insert` in `claw-demo`.
fn insert_bucket(sim: &TestSim, token: &str, bucket: Value) -> Resp {
    sim.post("/storage/v1/b?project=claw-demo", token, bucket)
}

/// A signed-in owner who made `bucket` in `claw-demo`: the simulator, the owner's token
/// and the bucket as Cloud Storage answered.
fn with_bucket(bucket: Value) -> (TestSim, String, Value) {
    let (sim, owner) = signed_in();
    let made = insert_bucket(&sim, &owner, bucket);
    assert_eq!(made.status, 200, "{}", made.body);
    let made = made.json();
    (sim, owner, made)
}

fn message(r: &Resp) -> String {
    r.json()["error"]["message"].as_str().unwrap().to_string()
}

#[test]
fn a_private_bucket_serves_ci_and_the_vm_and_nobody_else() {
    let bucket = "claw-cache-demo";
    let (sim, owner, b) = with_bucket(json!({
        "name": bucket,
        "location": "us-central1",
        "iamConfiguration": {
            "uniformBucketLevelAccess": {"enabled": true},
            "publicAccessPrevention": "enforced"
        }
    }));
    assert_eq!(b["kind"], "storage#bucket");
    assert_eq!(b["location"], "US-CENTRAL1");
    assert_eq!(
        b["iamConfiguration"]["uniformBucketLevelAccess"]["enabled"],
        true
    );
    assert_eq!(b["iamConfiguration"]["publicAccessPrevention"], "enforced");
    let again = insert_bucket(&sim, &owner, json!({"name": bucket}));
    assert_eq!(again.status, 409);
    assert!(message(&again).contains("you already own it"));
    let bad = insert_bucket(&sim, &owner, json!({"name": "Bad Name"}));
    assert_eq!(bad.status, 400, "{}", bad.body);

    // The VM runs as its service account, with a read-only scope.
    sim.admin(
        "vms",
        json!({
            "project": "claw-demo", "zone": "us-central1-a", "instance": "cache-vm",
            "serviceAccounts": [{"email": VM_SA, "scopes": [READ_ONLY]}]
        }),
    );
    let listed = sim.metadata(VM, "instance/service-accounts/default/email");
    assert_eq!(listed.body, VM_SA);
    let token = sim.metadata(VM, "instance/service-accounts/default/token");
    assert_eq!(token.status, 200, "{}", token.body);
    let token = token.json();
    assert_eq!(token["token_type"], "Bearer");
    assert!(token["expires_in"].as_u64().unwrap() > 0);
    let vm = token["access_token"].as_str().unwrap().to_string();
    assert_eq!(
        sim.metadata(
            VM,
            "instance/service-accounts/other@x.iam.gserviceaccount.com/token"
        )
        .status,
        404
    );
    let ci: Value = sim
        .admin(
            "service-account-tokens",
            json!({"email": CI_SA, "scopes": [CLOUD]}),
        )
        .json();
    let ci = ci["access_token"].as_str().unwrap().to_string();

    // Before any grant, neither may touch the bucket, and the error names the permission.
    let denied = upload(
        &sim,
        &ci,
        bucket,
        "nix-cache-info",
        b"StoreDir: /nix/store\n",
    );
    assert_eq!(denied.status, 403);
    assert_eq!(
        message(&denied),
        format!("{CI_SA} does not have storage.objects.create access to the Google Cloud Storage object. Permission 'storage.objects.create' denied on resource (or it may not exist).")
    );

    // The owner grants: CI writes objects, the VM reads them.
    let policy = sim
        .get(&format!("/storage/v1/b/{bucket}/iam"), &owner)
        .json();
    assert_eq!(policy["kind"], "storage#policy");
    let mut bindings = policy["bindings"].as_array().unwrap().clone();
    bindings.push(json!({"role": "roles/storage.objectAdmin", "members": [format!("serviceAccount:{CI_SA}")]}));
    bindings.push(json!({"role": "roles/storage.objectViewer", "members": [format!("serviceAccount:{VM_SA}")]}));
    let set = sim.send(
        "PUT",
        &format!("/storage/v1/b/{bucket}/iam"),
        Some(&owner),
        Some(json!({"bindings": bindings, "etag": policy["etag"]})),
    );
    assert_eq!(set.status, 200, "{}", set.body);
    let stale = sim.send(
        "PUT",
        &format!("/storage/v1/b/{bucket}/iam"),
        Some(&owner),
        Some(json!({"bindings": [], "etag": policy["etag"]})),
    );
    assert_eq!(stale.status, 412, "a stale etag loses nothing");
    let public = sim.send(
        "PUT",
        &format!("/storage/v1/b/{bucket}/iam"),
        Some(&owner),
        Some(
            json!({"bindings": [{"role": "roles/storage.objectViewer", "members": ["allUsers"]}]}),
        ),
    );
    assert_eq!(public.status, 400, "{}", public.body);

    let narinfo = b"StorePath: /nix/store/x\n";
    let put = upload(&sim, &ci, bucket, "abc.narinfo", narinfo);
    assert_eq!(put.status, 200, "{}", put.body);
    assert_eq!(put.json()["size"], "24");
    assert_eq!(upload(&sim, &ci, bucket, "nar/abc.nar", b"nar").status, 200);

    // The VM reads and lists, but cannot write.
    let media = sim.get(
        &format!("/storage/v1/b/{bucket}/o/abc.narinfo?alt=media"),
        &vm,
    );
    assert_eq!(media.status, 200);
    assert_eq!(media.body.as_bytes(), narinfo);
    let nested = sim.get(
        &format!("/storage/v1/b/{bucket}/o/nar%2Fabc.nar?alt=media"),
        &vm,
    );
    assert_eq!(nested.body, "nar");
    let meta = sim
        .get(&format!("/storage/v1/b/{bucket}/o/nar%2Fabc.nar"), &vm)
        .json();
    assert_eq!(meta["name"], "nar/abc.nar");
    let list = sim
        .get(&format!("/storage/v1/b/{bucket}/o?prefix=nar/"), &vm)
        .json();
    let names = fields(&list["items"], "name");
    assert_eq!(names, ["nar/abc.nar"]);
    let write = upload(&sim, &vm, bucket, "evil.narinfo", b"x");
    assert_eq!(write.status, 403, "a read-only token cannot write");
    let missing = sim.get(
        &format!("/storage/v1/b/{bucket}/o/none.narinfo?alt=media"),
        &vm,
    );
    assert_eq!(missing.status, 404);
    assert_eq!(
        message(&missing),
        format!("No such object: {bucket}/none.narinfo")
    );

    // Anyone else: no token, a stranger's token, another bucket.
    assert_eq!(
        sim.anonymous(
            "GET",
            &format!("/storage/v1/b/{bucket}/o/abc.narinfo?alt=media")
        )
        .status,
        401
    );
    let stranger: Value = sim
        .admin(
            "service-account-tokens",
            json!({"email": "x@elsewhere.iam.gserviceaccount.com", "scopes": [CLOUD]}),
        )
        .json();
    let stranger = stranger["access_token"].as_str().unwrap();
    let refused = sim.get(
        &format!("/storage/v1/b/{bucket}/o/abc.narinfo?alt=media"),
        stranger,
    );
    assert_eq!(refused.status, 403);
    assert!(
        message(&refused).contains("storage.objects.get"),
        "{}",
        refused.body
    );
    assert_eq!(
        sim.get("/storage/v1/b/no-such-bucket/o/x", &owner).status,
        404
    );
    assert_eq!(sim.counter("storage.objects.get"), 7);

    // Malformed requests: Cloud Storage's 400s, nothing stored.
    let not_json = sim
        .request("POST", "/storage/v1/b?project=claw-demo")
        .set("Authorization", &format!("Bearer {owner}"))
        .send_string("{not json");
    assert!(matches!(not_json, Err(ureq::Error::Status(400, _))));
    let wrong_type = sim.send(
        "PUT",
        &format!("/storage/v1/b/{bucket}/iam"),
        Some(&owner),
        Some(json!({"bindings": "everyone"})),
    );
    assert_eq!(wrong_type.status, 400, "{}", wrong_type.body);
    let unknown_role = sim.send(
        "PUT",
        &format!("/storage/v1/b/{bucket}/iam"),
        Some(&owner),
        Some(json!({"bindings": [{"role": "roles/owner", "members": [format!("serviceAccount:{CI_SA}")]}]})),
    );
    assert_eq!(unknown_role.status, 400, "{}", unknown_role.body);
    let no_name = sim.post(
        &format!("/upload/storage/v1/b/{bucket}/o?uploadType=media"),
        &ci,
        json!({}),
    );
    assert_eq!(no_name.status, 400);
    let unknown_type = sim.post(
        &format!("/upload/storage/v1/b/{bucket}/o?uploadType=chunky&name=x"),
        &ci,
        json!({}),
    );
    assert_eq!(unknown_type.status, 400);
    let unknown_param = sim.get(&format!("/storage/v1/b/{bucket}/o?colour=red"), &vm);
    assert_eq!(unknown_param.status, 400);
    let zero = sim.get(&format!("/storage/v1/b/{bucket}/o?maxResults=0"), &vm);
    assert_eq!(zero.status, 400);
    let page = sim
        .get(&format!("/storage/v1/b/{bucket}/o?maxResults=1"), &vm)
        .json();
    assert_eq!(page["items"].as_array().unwrap().len(), 1);
    assert_eq!(page["nextPageToken"], "abc.narinfo");
    let rest = sim
        .get(
            &format!("/storage/v1/b/{bucket}/o?maxResults=1&pageToken=abc.narinfo"),
            &vm,
        )
        .json();
    assert_eq!(rest["items"][0]["name"], "nar/abc.nar");
    assert!(rest.get("nextPageToken").is_none());
    let listed = sim.get(&format!("/storage/v1/b/{bucket}/o"), &vm).json();
    assert_eq!(
        listed["items"].as_array().unwrap().len(),
        2,
        "nothing stored by a refused request"
    );
}

/// A NAR of several megabytes, past the simulator's body limit for other APIs, arrives
/// as `gcloud storage` sends large objects: a resumable session, then chunks in
/// multiples of 256 KiB, each answered `308` with the `Range` persisted, the last with
/// the object.
#[test]
fn a_large_object_arrives_through_a_resumable_upload() {
    let bucket = "claw-cache-big";
    let (sim, owner, _) = with_bucket(
        json!({"name": bucket, "iamConfiguration": {"uniformBucketLevelAccess": {"enabled": true}}}),
    );
    let data: Vec<u8> = (0..5 * 1024 * 1024 + 123u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    let total = data.len();
    let auth = format!("Bearer {owner}");

    // Anyone without storage.objects.create cannot even open a session.
    let stranger = sim
        .admin(
            "service-account-tokens",
            json!({"email": "stranger@claw-demo.iam.gserviceaccount.com", "scopes": [CLOUD]}),
        )
        .json()["access_token"]
        .as_str()
        .unwrap()
        .to_string();
    let start = format!("/upload/storage/v1/b/{bucket}/o?uploadType=resumable&name=nar%2Fbig.nar");
    let refused = sim.send_raw(
        "POST",
        &start,
        &[("Authorization", &format!("Bearer {stranger}"))],
        b"",
    );
    assert_eq!(refused.status, 403, "{}", refused.body);

    let opened = sim.send_raw(
        "POST",
        &start,
        &[
            ("Authorization", &auth),
            ("X-Upload-Content-Type", "application/x-nix-nar"),
            ("X-Upload-Content-Length", &total.to_string()),
        ],
        b"",
    );
    assert_eq!(opened.status, 200, "{}", opened.body);
    let session = opened.location.expect("a session URI");
    let session = session.strip_prefix(&sim.url).expect("on the simulator");
    assert!(session.contains("upload_id="), "{session}");
    let put = |range: &str, bytes: &[u8]| {
        sim.send_raw("PUT", session, &[("Content-Range", range)], bytes)
    };

    // Nothing yet: a status query says so (no Range).
    let status = put("bytes */*", b"");
    assert_eq!((status.status, status.range.as_deref()), (308, None));
    const MIB: usize = 1024 * 1024;
    let first = put(&format!("bytes 0-{}/*", 2 * MIB - 1), &data[..2 * MIB]);
    assert_eq!(first.status, 308, "{}", first.body);
    assert_eq!(first.range.as_deref(), Some("bytes=0-2097151"));
    // A chunk that is not a multiple of 256 KiB, or leaves a gap, is refused.
    let ragged = put(
        &format!("bytes {}-{}/*", 2 * MIB, 2 * MIB + 99_999),
        &data[2 * MIB..2 * MIB + 100_000],
    );
    assert_eq!(ragged.status, 400, "{}", ragged.body);
    let gap = put(
        &format!("bytes {}-{}/*", 3 * MIB, 4 * MIB - 1),
        &data[3 * MIB..4 * MIB],
    );
    assert_eq!(gap.status, 400, "{}", gap.body);
    // A chunk resent from an earlier offset: the persisted bytes are kept once.
    let again = put(
        &format!("bytes {}-{}/*", MIB, 3 * MIB - 1),
        &data[MIB..3 * MIB],
    );
    assert_eq!(
        again.range.as_deref(),
        Some("bytes=0-3145727"),
        "{}",
        again.body
    );
    let status = put(&format!("bytes */{total}"), b"");
    assert_eq!(status.range.as_deref(), Some("bytes=0-3145727"));
    let last = put(
        &format!("bytes {}-{}/{total}", 3 * MIB, total - 1),
        &data[3 * MIB..],
    );
    assert_eq!(last.status, 200, "{}", last.body);
    let object = last.json();
    assert_eq!(object["size"], total.to_string());
    assert_eq!(object["contentType"], "application/x-nix-nar");

    let read = sim
        .request(
            "GET",
            &format!("/storage/v1/b/{bucket}/o/nar%2Fbig.nar?alt=media"),
        )
        .set("Authorization", &auth)
        .call()
        .unwrap();
    let mut bytes = Vec::new();
    std::io::Read::read_to_end(&mut read.into_reader(), &mut bytes).unwrap();
    assert!(bytes == data, "the object is the bytes sent, once each");
    // The session is closed once the object is written.
    assert_eq!(put("bytes */*", b"").status, 404);

    // The same object in one media request: uploads may be larger than other APIs' 2 MB.
    let whole = sim.send_raw(
        "POST",
        &format!("/upload/storage/v1/b/{bucket}/o?uploadType=media&name=nar%2Fwhole.nar"),
        &[("Authorization", &auth)],
        &data,
    );
    assert_eq!(whole.status, 200, "{}", whole.body);
}
