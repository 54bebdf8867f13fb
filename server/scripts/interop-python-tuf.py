"""python-tuf's ngclient against a tufchain server (see interop-serve.ts and server/README.md).

    python3 server/scripts/interop-python-tuf.py <out-dir of interop-serve.ts>

Refreshes from the provisioned 1.root.json, resolves each target through the delegations
(top-level targets -> bins -> its hashed bin; top-level targets -> supplier-acme), downloads it
and checks its sha256. Exits non-zero on any failure.
"""
import hashlib
import json
import os
import shutil
import sys

from tuf.ngclient import Updater

out = sys.argv[1]
cfg = json.load(open(os.path.join(out, "server.json")))
client = os.path.join(out, "python-tuf")
shutil.rmtree(client, ignore_errors=True)
os.makedirs(os.path.join(client, "targets"))
shutil.copy(os.path.join(out, "1.root.json"), os.path.join(client, "root.json"))
updater = Updater(
    metadata_dir=client,
    metadata_base_url=cfg["url"] + "/metadata/",
    target_base_url=cfg["url"] + "/targets/",
    target_dir=os.path.join(client, "targets"),
)
updater.refresh()
for t in cfg["targets"]:
    info = updater.get_targetinfo(t["name"])
    assert info is not None, f"python-tuf cannot resolve {t['name']}"
    path = updater.download_target(
        info, filepath=os.path.join(client, "targets", t["name"].replace("/", "_"))
    )
    got = hashlib.sha256(open(path, "rb").read()).hexdigest()
    assert got == t["sha256"], f"{t['name']}: sha256 {got}"
    print(f"ok {t['name']} hardwareIds={info.custom['hardwareIds']}")
print("metadata walked:", " ".join(sorted(f for f in os.listdir(client) if f.endswith(".json"))))
