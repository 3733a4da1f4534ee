"""Publishing to a zoo on GitHub, for real: a bare git repository as the remote and a REST server on
127.0.0.1 that records ``POST /repos/OWNER/REPO/pulls``. Refusals push nothing and open nothing."""

from __future__ import annotations

import base64
import json
import re
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from bundle.errors import ZooError
from bundle.format.report import VerificationError
from bundle.registry.git import token_env
from bundle.registry.archive import bundle_files
from bundle.registry.publish import parse_target, publish
from tests.zoorepo import GITHUB, git, init_zoo, make_bundle, set_version

TOKEN = "ghp_test_token_123"


class FakeGitHub:
    """``POST /repos/{owner}/{repo}/pulls``: records each request, answers ``responses`` in turn (then 201)."""

    def __init__(self) -> None:
        self.requests: list[dict] = []
        self.responses: list[tuple[int, dict]] = []
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args) -> None:
                pass

            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                fake.requests.append({"path": self.path, "headers": dict(self.headers), "json": body})
                status, answer = fake.responses.pop(0) if fake.responses else (201, {
                    "number": len(fake.requests), "html_url": f"https://github.com/{GITHUB}/pull/{len(fake.requests)}"})
                data = json.dumps(answer).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def github(monkeypatch):
    fake = FakeGitHub()
    monkeypatch.setenv("BUNDLE_GITHUB_API", fake.url)
    monkeypatch.setenv("GITHUB_TOKEN", TOKEN)
    monkeypatch.delenv("GH_TOKEN", raising=False)
    yield fake
    fake.close()


@pytest.fixture
def remote(tmp_path):
    """A bare repository holding a zoo (alpha 0.1.0, released) on branch main."""
    work = init_zoo(tmp_path / "work", {"alpha": "0.1.0"})
    bare = tmp_path / "zoo.git"
    git(tmp_path, "clone", "--quiet", "--bare", str(work), str(bare))
    return bare


def branches(bare) -> list[str]:
    return git(bare, "for-each-ref", "--format=%(refname:short)", "refs/heads").split()


def show(bare, rev: str, path: str) -> str:
    return git(bare, "show", f"{rev}:{path}")


@pytest.mark.integration
def test_publish_pushes_a_branch_and_opens_a_pull_request(tmp_path, github, remote):
    bundle = make_bundle(tmp_path / "src" / "delta", "0.1.0", "first delta")
    (bundle / "eval").mkdir()
    (bundle / "eval" / "predictions.csv").write_text("not published\n")
    main_before = git(remote, "rev-parse", "main")

    result = publish(bundle, f"github:{GITHUB}", remote=str(remote), net=False, weights=False)

    assert result.url == f"https://github.com/{GITHUB}/pull/1"
    assert (result.branch, result.name, result.version) == ("publish/delta-v0.1.0", "delta", "0.1.0")
    assert branches(remote) == ["main", "publish/delta-v0.1.0"]
    assert git(remote, "rev-parse", "main") == main_before
    branch = result.branch
    tree = git(remote, "ls-tree", "-r", "--name-only", branch, "zoo/delta").splitlines()
    assert tree == sorted(f"zoo/delta/{rel}" for rel, _ in bundle_files(bundle))
    assert "zoo/delta/eval/predictions.csv" not in tree and "zoo/delta/.gitignore" not in tree
    assert show(remote, branch, "zoo/delta/configs/metadata.json") == (bundle / "configs/metadata.json").read_text().strip()
    entry = json.loads(show(remote, branch, "zoo/index.json"))["bundles"]["delta"]["versions"]["0.1.0"]
    assert (entry["sha256"], entry["size"], entry["changelog"]) == (result.sha256, result.size, "first delta")
    assert entry["sources"] == [{"github": GITHUB, "tag": "delta-v0.1.0", "asset": "delta_v0.1.0.zip"}]
    assert "alpha" in json.loads(show(remote, branch, "zoo/index.json"))["bundles"]
    author = git(remote, "log", "-1", "--format=%an <%ae>%n%B", branch)
    assert author.startswith("bundle publish <")  # the tests' HOME has no git identity
    assert "Publish delta 0.1.0" in author and result.sha256 in author

    (request,) = github.requests
    assert request["path"] == f"/repos/{GITHUB}/pulls"
    assert request["headers"]["Authorization"] == f"Bearer {TOKEN}"
    pr = request["json"]
    assert (pr["title"], pr["head"], pr["base"]) == ("Publish delta 0.1.0", "publish/delta-v0.1.0", "main")
    for text in (result.sha256, "first delta", "ci/verify_pr.py", "delta-v0.1.0", f"{result.size} bytes"):
        assert text in pr["body"]


@pytest.mark.integration
def test_the_published_branch_passes_the_zoo_ci(tmp_path, github, remote):
    from bundle.registry.review import review_changes

    result = publish(make_bundle(tmp_path / "src" / "alpha", "0.2.0", "second"), f"github:{GITHUB}",
                     remote=str(remote), net=False, weights=False)
    clone = tmp_path / "clone"
    git(tmp_path, "clone", "--quiet", "--branch", result.branch, str(remote), str(clone))
    review = review_changes(clone, "origin/main", net=False, weights=False)
    assert review.ok, review.format()
    assert review.changed == ["alpha"]
    assert list(json.loads((clone / "zoo" / "index.json").read_text())["bundles"]["alpha"]["versions"]) == ["0.2.0", "0.1.0"]


@pytest.mark.integration
@pytest.mark.parametrize("case", ["existing-version", "no-changelog", "broken", "no-token", "branch-exists"])
def test_refusals_push_nothing(tmp_path, github, remote, monkeypatch, case):
    bundle = make_bundle(tmp_path / "src" / "alpha", "0.2.0", "second")
    expected = {"existing-version": (VerificationError, "alpha 0.1.0 is already published"),
                "no-changelog": (VerificationError, "the changelog has no entry for version '0.3.0'"),
                "broken": (VerificationError, "2 problems"),
                "no-token": (ZooError, "needs a token"),
                "branch-exists": (ZooError, "the branch 'publish/alpha-v0.2.0' already exists")}[case]
    if case == "existing-version":
        set_version(bundle, "0.1.0")
    elif case == "no-changelog":
        set_version(bundle, "0.3.0", changelog=None)
    elif case == "broken":
        (bundle / "LICENSE").unlink()
        (bundle / "configs" / "inference.json").write_text('{"network_def": "@missing"}')
    elif case == "no-token":
        monkeypatch.delenv("GITHUB_TOKEN")
    elif case == "branch-exists":
        git(remote, "branch", "publish/alpha-v0.2.0", "main")
    before = git(remote, "for-each-ref")
    with pytest.raises(expected[0], match=expected[1]) as caught:
        publish(bundle, f"github:{GITHUB}", remote=str(remote), net=False, weights=False)
    assert git(remote, "for-each-ref") == before
    assert github.requests == []
    if case == "broken":
        assert "LICENSE is missing" in str(caught.value) and "@missing" in str(caught.value)


@pytest.mark.integration
@pytest.mark.parametrize("status, answer, expected", [
    (422, {"message": "Validation Failed", "errors": [{"message": "A pull request already exists for bundle-zoo:publish/delta-v0.1.0."}]},
     "422 Validation Failed: A pull request already exists"),
    (401, {"message": "Bad credentials"}, "GitHub refused the token (401 Bad credentials)"),
    (404, {"message": "Not Found"}, f"GitHub has no repository {GITHUB} that this token can see"),
], ids=["422", "401", "404"])
def test_api_errors_are_clear(tmp_path, github, remote, status, answer, expected):
    github.responses.append((status, answer))
    with pytest.raises(ZooError, match=re.escape(expected)) as caught:
        publish(make_bundle(tmp_path / "src" / "delta"), f"github:{GITHUB}", remote=str(remote), net=False, weights=False)
    assert "the branch 'publish/delta-v0.1.0' is pushed" in caught.value.hint


@pytest.mark.integration
def test_dry_run_pushes_nothing(tmp_path, github, remote, monkeypatch):
    monkeypatch.delenv("GITHUB_TOKEN")
    result = publish(make_bundle(tmp_path / "src" / "delta"), f"github:{GITHUB}", remote=str(remote), dry_run=True,
                     net=False, weights=False)
    assert result.dry_run and result.url is None
    assert "zoo/index.json" in result.files and "zoo/delta/configs/metadata.json" in result.files
    assert branches(remote) == ["main"] and github.requests == []


@pytest.mark.integration
def test_cli_publish(tmp_path, github, remote, capsys):
    from bundle.cli.publish import publish as command

    assert command(str(make_bundle(tmp_path / "src" / "delta")), f"github:{GITHUB}", remote=str(remote),
                   no_net=True, no_weights=True) == 0
    assert f"to github:{GITHUB} as a pull request: https://github.com/{GITHUB}/pull/1" in capsys.readouterr().out


@pytest.mark.parametrize("to", ["github:owner", "gitlab:o/r", "hf:o/r/x", "o/r"])
def test_bad_targets(to):
    with pytest.raises(ZooError, match="is not a place to publish to"):
        parse_target(to)


def test_token_goes_to_git_in_an_extra_header_for_that_host_only():
    env = token_env("https://github.com/bundle-zoo/zoo.git", TOKEN)
    assert env["GIT_CONFIG_COUNT"] == "1"
    assert env["GIT_CONFIG_KEY_0"] == "http.https://github.com/.extraheader"
    scheme, _, value = env["GIT_CONFIG_VALUE_0"].partition(" basic ")
    assert scheme == "AUTHORIZATION:" and base64.b64decode(value).decode() == f"x-access-token:{TOKEN}"
    assert TOKEN not in json.dumps(env)
    assert token_env("/srv/zoo.git", TOKEN) == {} and token_env("https://github.com/o/r.git", None) == {}


@pytest.mark.integration
def test_an_unreadable_remote_fails_with_gits_message(tmp_path, monkeypatch):
    """A remote that does not exist fails in git, with git's message and a hint (nothing waits for a password)."""
    monkeypatch.setenv("GITHUB_TOKEN", TOKEN)
    with pytest.raises(ZooError, match="git clone") as caught:
        publish(make_bundle(tmp_path / "delta"), f"github:{GITHUB}", remote=str(tmp_path / "nowhere.git"),
                net=False, weights=False)
    assert "a branch 'main' you may read" in caught.value.hint
