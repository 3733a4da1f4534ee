"""A Hugging Face Hub on 127.0.0.1 for tests: the endpoints huggingface_hub (2.x) calls to create a repo,
commit files (``preupload`` answers ``regular``, so content travels inline in the ndjson commit, with no
LFS or Xet), open a pull request, list refs and trees, tag, read repo info at a revision and download
files (``/resolve/``, with the ETag and X-Repo-Commit headers ``hf_hub_download`` reads).

Repositories live in memory as commits (path -> bytes) with branches, tags and pull-request refs
(``refs/pr/N``). Every request and every commit is recorded for assertions.

Example:
    >>> with FakeHub(token="hf_test") as hub:
    ...     hub.add_files("org/name", {"configs/metadata.json": b"{}"}, tag="v0.1.0")
    ...     HfApi(endpoint=hub.url, token="hf_test").list_repo_refs("org/name")
"""

from __future__ import annotations

import base64
import hashlib
import json
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, unquote, urlsplit


def git_blob_oid(data: bytes) -> str:
    """The git blob id of ``data`` (what the Hub reports as a regular file's oid and ETag)."""
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


@dataclass
class HubRepo:
    """One repository: commits (sha -> files), branches, tags and pull requests (number -> sha)."""

    repo_id: str
    commits: dict[str, dict[str, bytes]] = field(default_factory=dict)
    branches: dict[str, str] = field(default_factory=dict)
    tags: dict[str, str] = field(default_factory=dict)
    pulls: dict[int, str] = field(default_factory=dict)

    def resolve(self, revision: str) -> str | None:
        """The commit sha ``revision`` (branch, tag, refs/pr/N, sha) names, or None."""
        if revision in self.commits:
            return revision
        if revision.startswith("refs/pr/") and revision[8:].isdigit():
            return self.pulls.get(int(revision[8:]))
        for prefix, refs in (("refs/heads/", self.branches), ("refs/tags/", self.tags)):
            if revision.startswith(prefix):
                return refs.get(revision[len(prefix):])
        return self.branches.get(revision) or self.tags.get(revision)


@dataclass
class RecordedCommit:
    """A commit the Hub received: where, how, and its operations."""

    repo_id: str
    revision: str
    create_pr: bool
    summary: str
    description: str
    added: dict[str, bytes]
    deleted: list[str]
    sha: str
    pr_url: str | None


class FakeHub:
    """The fake Hub: ``start()`` (or ``with``) serves it, ``url`` is the endpoint to pass as HF_ENDPOINT.

    Args:
        token: when set, every request must carry ``Authorization: Bearer <token>`` (else 401).
    """

    def __init__(self, token: str | None = None) -> None:
        self.token = token
        self.repos: dict[str, HubRepo] = {}
        self.requests: list[tuple[str, str]] = []  # (method, path with query)
        self.commits: list[RecordedCommit] = []
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None
        self._count = 0

    # -- serving -----------------------------------------------------------------------------------
    def start(self) -> "FakeHub":
        hub = self

        class Handler(_Handler):
            pass

        Handler.hub = hub
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> "FakeHub":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    # -- content -------------------------------------------------------------------------------------
    def create_repo(self, repo_id: str) -> HubRepo:
        """A new repository with an empty first commit on ``main`` (as the Hub makes them)."""
        with self._lock:
            repo = self.repos.setdefault(repo_id, HubRepo(repo_id))
            if not repo.branches:
                repo.branches["main"] = self._new_commit(repo, {}, parent=None)
            return repo

    def add_files(self, repo_id: str, files: dict[str, bytes], *, revision: str = "main", tag: str | None = None,
                  deleted: tuple[str, ...] = ()) -> str:
        """Commit ``files`` onto branch ``revision`` (creating the repo); optionally tag the commit."""
        repo = self.repos.get(repo_id) or self.create_repo(repo_id)
        with self._lock:
            parent = repo.resolve(revision) or repo.branches["main"]
            content = {k: v for k, v in repo.commits[parent].items() if k not in deleted}
            content.update(files)
            sha = self._new_commit(repo, content, parent=parent)
            repo.branches[revision] = sha
            if tag:
                repo.tags[tag] = sha
            return sha

    def files(self, repo_id: str, revision: str = "main") -> dict[str, bytes]:
        """The files of ``repo_id`` at ``revision`` (path -> bytes)."""
        repo = self.repos[repo_id]
        return dict(repo.commits[repo.resolve(revision)])

    def _new_commit(self, repo: HubRepo, content: dict[str, bytes], parent: str | None) -> str:
        self._count += 1
        digest = hashlib.sha1(f"{repo.repo_id}:{parent}:{self._count}".encode())
        for path in sorted(content):
            digest.update(path.encode() + b"\0" + content[path])
        sha = digest.hexdigest()
        repo.commits[sha] = content
        return sha


class _Handler(BaseHTTPRequestHandler):
    hub: FakeHub
    protocol_version = "HTTP/1.1"

    def log_message(self, *args) -> None:  # keep test output clean
        pass

    # -- plumbing ------------------------------------------------------------------------------------
    def _send(self, status: int, body: bytes | dict | list = b"", headers: dict | None = None, *, head: bool = False) -> None:
        data = json.dumps(body).encode() if isinstance(body, (dict, list)) else body
        self.send_response(status)
        self.send_header("Content-Length", str(len(data)))
        if isinstance(body, (dict, list)):
            self.send_header("Content-Type", "application/json")
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.end_headers()
        if not head:
            self.wfile.write(data)

    def _error(self, status: int, code: str, message: str, *, head: bool = False) -> None:
        self._send(status, {"error": message}, {"X-Error-Code": code, "X-Error-Message": message}, head=head)

    def _body(self) -> bytes:
        return self.rfile.read(int(self.headers.get("Content-Length") or 0))

    def _authorized(self) -> bool:
        token = self.hub.token
        if token is None or self.headers.get("Authorization") == f"Bearer {token}":
            return True
        self._send(401, {"error": "Invalid credentials in Authorization header"},
                   {"X-Error-Message": "Invalid credentials in Authorization header"})
        return False

    def _route(self, method: str) -> None:
        self.hub.requests.append((method, self.path))
        self.payload = self._body() if method == "POST" else b""
        if not self._authorized():
            return
        parts = urlsplit(self.path)
        query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
        segments = parts.path.strip("/").split("/")
        try:
            if segments[:3] == ["api", "repos", "create"] and method == "POST":
                return self._create_repo()
            if segments[:2] == ["api", "models"] and len(segments) >= 4:
                repo_id, rest = "/".join(segments[2:4]), segments[4:]
                return self._api(method, repo_id, rest, query)
            if len(segments) >= 5 and segments[2] == "resolve" and method in ("GET", "HEAD"):
                repo_id = "/".join(segments[:2])
                return self._resolve(repo_id, unquote(segments[3]), unquote("/".join(segments[4:])), head=method == "HEAD")
        except Exception as err:  # a fake that answers 500 shows the test what broke
            return self._send(500, {"error": f"{type(err).__name__}: {err}"})
        self._error(404, "NotFound", f"no route for {method} {parts.path}")

    def do_GET(self) -> None:
        self._route("GET")

    def do_HEAD(self) -> None:
        self._route("HEAD")

    def do_POST(self) -> None:
        self._route("POST")

    # -- endpoints -----------------------------------------------------------------------------------
    def _create_repo(self) -> None:
        payload = json.loads(self.payload or b"{}")
        repo_id = f"{payload.get('organization')}/{payload['name']}"
        if repo_id in self.hub.repos:  # the Hub's 409 carries the URL: create_repo(exist_ok=True) reads it
            message = "You already created this model repo"
            return self._send(409, {"error": message, "url": f"{self.hub.url}/{repo_id}"}, {"X-Error-Message": message})
        self.hub.create_repo(repo_id)
        self._send(200, {"url": f"{self.hub.url}/{repo_id}", "name": repo_id})

    def _api(self, method: str, repo_id: str, rest: list[str], query: dict) -> None:
        repo = self.hub.repos.get(repo_id)
        body = self.payload
        if repo is None:
            return self._error(404, "RepoNotFound", f"Repository {repo_id} not found")
        action = rest[0] if rest else "info"
        revision = unquote(rest[1]) if len(rest) > 1 else "main"
        if action in ("info", "revision") and method == "GET":
            return self._info(repo, revision)
        if action == "refs" and method == "GET":
            return self._send(200, self._refs(repo))
        if action == "tree" and method == "GET":
            return self._tree(repo, revision, unquote("/".join(rest[2:])), query.get("recursive") in ("1", "true", "True"))
        if action == "preupload" and method == "POST":
            return self._preupload(repo, revision, json.loads(body))
        if action == "commit" and method == "POST":
            return self._commit(repo, revision, body, query.get("create_pr") == "1")
        if action == "tag" and method == "POST":
            return self._tag(repo, revision, json.loads(body))
        self._error(404, "NotFound", f"no route for {method} {self.path}")

    def _revision_or_error(self, repo: HubRepo, revision: str, head: bool = False) -> str | None:
        sha = repo.resolve(revision)
        if sha is None:
            self._error(404, "RevisionNotFound", f"Invalid rev id: {revision}", head=head)
        return sha

    def _info(self, repo: HubRepo, revision: str) -> None:
        sha = self._revision_or_error(repo, revision)
        if sha is not None:
            files = repo.commits[sha]
            self._send(200, {"id": repo.repo_id, "modelId": repo.repo_id, "sha": sha, "private": False,
                             "tags": [], "siblings": [{"rfilename": p, "size": len(files[p])} for p in sorted(files)]})

    @staticmethod
    def _refs(repo: HubRepo) -> dict:
        def refs(kind: str, items: dict) -> list[dict]:
            return [{"name": str(n), "ref": f"refs/{kind}/{n}", "targetCommit": s} for n, s in sorted(items.items())]

        return {"branches": refs("heads", repo.branches), "tags": refs("tags", repo.tags), "converts": [],
                "pullRequests": refs("pr", repo.pulls)}

    def _tree(self, repo: HubRepo, revision: str, path: str, recursive: bool) -> None:
        sha = self._revision_or_error(repo, revision)
        if sha is None:
            return
        prefix = f"{path.strip('/')}/" if path.strip("/") else ""
        entries, folders = [], set()
        for name, data in sorted(repo.commits[sha].items()):
            if not name.startswith(prefix):
                continue
            rest = name[len(prefix):].split("/")
            if len(rest) > 1 and not recursive:
                folders.add(prefix + rest[0])
                continue
            if recursive:
                folders.update(prefix + "/".join(rest[:i]) for i in range(1, len(rest)))
            entries.append({"type": "file", "path": name, "size": len(data), "oid": git_blob_oid(data)})
        entries += [{"type": "directory", "path": f, "oid": "0" * 40, "size": 0} for f in sorted(folders)]
        self._send(200, sorted(entries, key=lambda e: e["path"]))

    def _preupload(self, repo: HubRepo, revision: str, payload: dict) -> None:
        current = repo.commits.get(repo.resolve(revision) or "", {})
        files = [{"path": f["path"], "uploadMode": "regular", "shouldIgnore": False,
                  "oid": git_blob_oid(current[f["path"]]) if f["path"] in current else None} for f in payload["files"]]
        self._send(200, {"files": files, "commitOid": repo.resolve(revision)})

    def _commit(self, repo: HubRepo, revision: str, body: bytes, create_pr: bool) -> None:
        lines = [json.loads(line) for line in body.decode().splitlines() if line.strip()]
        header = next(item["value"] for item in lines if item["key"] == "header")
        added, deleted = {}, []
        for item in lines:
            value = item["value"]
            if item["key"] == "file":
                added[value["path"]] = base64.b64decode(value["content"])
            elif item["key"] in ("deletedFile", "deletedFolder"):
                deleted.append(value["path"])
            elif item["key"] == "lfsFile":
                return self._error(400, "BadRequest", "this fake Hub takes regular files only (no LFS)")
        parent = self._revision_or_error(repo, revision)
        if parent is None:
            return
        with self.hub._lock:
            content = {p: d for p, d in repo.commits[parent].items()
                       if p not in deleted and not any(p.startswith(f"{d.rstrip('/')}/") for d in deleted)}
            content.update(added)
            sha = self.hub._new_commit(repo, content, parent=parent)
            pr_url = None
            if create_pr:
                number = max([*repo.pulls, 0]) + 1
                repo.pulls[number] = sha
                pr_url = f"{self.hub.url}/{repo.repo_id}/discussions/{number}"
            else:
                repo.branches[revision] = sha
        self.hub.commits.append(RecordedCommit(repo.repo_id, revision, create_pr, header.get("summary", ""),
                                               header.get("description", ""), added, deleted, sha, pr_url))
        self._send(200, {"commitUrl": f"{self.hub.url}/{repo.repo_id}/commit/{sha}", "commitOid": sha,
                         "pullRequestUrl": pr_url})

    def _tag(self, repo: HubRepo, revision: str, payload: dict) -> None:
        sha = self._revision_or_error(repo, revision)
        if sha is None:
            return
        if payload["tag"] in repo.tags:
            return self._error(409, "TagExists", f"tag {payload['tag']} already exists")
        repo.tags[payload["tag"]] = sha
        self._send(200, {})

    def _resolve(self, repo_id: str, revision: str, path: str, *, head: bool) -> None:
        repo = self.hub.repos.get(repo_id)
        if repo is None:
            return self._error(404, "RepoNotFound", f"Repository {repo_id} not found", head=head)
        sha = self._revision_or_error(repo, revision, head=head)
        if sha is None:
            return
        data = repo.commits[sha].get(path)
        if data is None:
            return self._error(404, "EntryNotFound", f"{path} does not exist at {revision}", head=head)
        self._send(200, data, {"ETag": f'"{git_blob_oid(data)}"', "X-Repo-Commit": sha,
                               "Content-Type": "application/octet-stream"}, head=head)
