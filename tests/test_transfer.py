"""oculi export / import: a collection moves to another server with its ids and users."""

from __future__ import annotations

import json
import subprocess

from tests.conftest import FIXTURES, Server, oculi_cli

PEOPLE = FIXTURES / "people"


def cli(*args: str) -> subprocess.CompletedProcess:
    return oculi_cli(*args, timeout=120)


def test_export_then_import_keeps_faces_users_and_search(tmp_path) -> None:
    src = Server(tmp_path / "a", env={"OCULI_MATCH_FLOOR": "80"})
    try:
        c = src.client()
        c.create_collection(CollectionId="team")
        ids = {}
        for rel in ("train/obama/obama.jpg", "train/biden/biden.jpg"):
            r = c.index_faces(
                CollectionId="team",
                Image={"Bytes": (PEOPLE / rel).read_bytes()},
                ExternalImageId=rel.split("/")[1],
            )
            ids[rel.split("/")[1]] = r["FaceRecords"][0]["Face"]["FaceId"]
        c.create_user(CollectionId="team", UserId="barack")
        c.associate_faces(CollectionId="team", UserId="barack", FaceIds=[ids["obama"]])
        out = cli(
            "export", "team", "-o", str(tmp_path / "team.jsonl"), "--data-dir", str(src.data_dir)
        )
        assert out.returncode == 0, out.stderr
    finally:
        src.stop()
    lines = (tmp_path / "team.jsonl").read_text().splitlines()
    assert [json.loads(x)["type"] for x in lines] == ["collection", "user", "face", "face"]
    dst_dir = tmp_path / "b" / "data"
    out = cli("import", str(tmp_path / "team.jsonl"), "--as", "moved", "--data-dir", str(dst_dir))
    assert out.returncode == 0, out.stderr
    again = cli("import", str(tmp_path / "team.jsonl"), "--as", "moved", "--data-dir", str(dst_dir))
    assert again.returncode == 1 and "already exists" in again.stderr
    dots = cli("import", str(tmp_path / "team.jsonl"), "--as", "..", "--data-dir", str(dst_dir))
    assert dots.returncode == 1 and "not a collection id" in dots.stderr
    junk = tmp_path / "junk.jsonl"
    junk.write_text('{"type": "nothing"}\n')
    assert cli("import", str(junk), "--data-dir", str(dst_dir)).returncode == 1
    dst = Server(tmp_path / "b", env={"OCULI_MATCH_FLOOR": "80"})
    try:
        c = dst.client()
        faces = {f["FaceId"]: f for f in c.list_faces(CollectionId="moved")["Faces"]}
        assert set(faces) == set(ids.values())
        assert faces[ids["obama"]]["UserId"] == "barack"
        assert faces[ids["biden"]]["ExternalImageId"] == "biden"
        r = c.search_faces_by_image(
            CollectionId="moved", Image={"Bytes": (PEOPLE / "test/obama1.jpg").read_bytes()}
        )
        assert [m["Face"]["FaceId"] for m in r["FaceMatches"]] == [ids["obama"]]
    finally:
        dst.stop()


def test_import_copy_into_the_same_store_is_whole_or_nothing(tmp_path) -> None:
    """A copy imported (--as) into the data dir it came from gets new FaceIds with its user
    links kept; a file that fails half-way leaves no collection behind."""
    srv = Server(tmp_path / "a", env={"OCULI_MATCH_FLOOR": "80"})
    try:
        c = srv.client()
        c.create_collection(CollectionId="team", Tags={"owner": "newsroom"})
        ids = {}
        for rel in ("train/obama/obama.jpg", "train/biden/biden.jpg"):
            r = c.index_faces(CollectionId="team", Image={"Bytes": (PEOPLE / rel).read_bytes()})
            ids[rel.split("/")[1]] = r["FaceRecords"][0]["Face"]["FaceId"]
        c.create_user(CollectionId="team", UserId="barack")
        c.associate_faces(CollectionId="team", UserId="barack", FaceIds=[ids["obama"]])
    finally:
        srv.stop()
    data = str(srv.data_dir)
    export = tmp_path / "team.jsonl"
    assert cli("export", "team", "-o", str(export), "--data-dir", data).returncode == 0
    lines = export.read_text().splitlines()
    broken = tmp_path / "broken.jsonl"
    last = json.loads(lines[-1])
    last["embedding"] = "AAAAAA=="  # one float, not 128: found only while writing
    broken.write_text("\n".join([*lines[:-1], json.dumps(last)]) + "\n")
    out = cli("import", str(broken), "--as", "half", "--data-dir", data)
    assert out.returncode == 1 and "Traceback" not in out.stderr, out.stderr
    assert "error:" in out.stderr
    out = cli("import", str(export), "--as", "copy", "--data-dir", data)
    assert out.returncode == 0, out.stderr
    assert "2 faces imported into copy" in out.stdout and "new FaceIds" in out.stdout
    srv = Server(tmp_path / "a", env={"OCULI_MATCH_FLOOR": "80"})
    try:
        c = srv.client()
        assert "half" not in c.list_collections()["CollectionIds"]
        original = {f["FaceId"] for f in c.list_faces(CollectionId="team")["Faces"]}
        copied = c.list_faces(CollectionId="copy")["Faces"]
        assert original == set(ids.values()) and len(copied) == 2
        assert not original & {f["FaceId"] for f in copied}
        (held,) = c.list_faces(CollectionId="copy", UserId="barack")["Faces"]
        arn = c.describe_collection(CollectionId="copy")["CollectionARN"]
        assert c.list_tags_for_resource(ResourceArn=arn)["Tags"] == {"owner": "newsroom"}
        r = c.search_faces_by_image(
            CollectionId="copy", Image={"Bytes": (PEOPLE / "test/obama1.jpg").read_bytes()}
        )
        assert [m["Face"]["FaceId"] for m in r["FaceMatches"]] == [held["FaceId"]]
    finally:
        srv.stop()
