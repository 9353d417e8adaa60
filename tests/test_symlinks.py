"""No write into a run or sweep folder follows a planted link (no TensorFlow).

A run folder can come from anyone (a shared drive, a downloaded run). Each test plants a real
symbolic (or hard) link at a name the project writes, pointing at a victim file outside the
folder, calls the real writer, and checks that the victim is untouched and that the refusal is
one line naming the file.
"""

import os
import re
from pathlib import Path

import pytest
from conftest import PRECIOUS

from helpers import paths, plots, rundir
from helpers.encoding import Vocabulary
from helpers.paths import LinkRefusedError, relative


def plant(link: Path, target: Path) -> Path:
    link.parent.mkdir(parents=True, exist_ok=True)
    link.symlink_to(target)
    return link


def refusal(name: str, folder: Path, kind: str = "run folder") -> str:
    return re.escape(f"{name} in {relative(folder)} is a symbolic link; a {kind}'s files must "
                     "be plain files: remove it")


def untouched(victim: Path, link: Path) -> None:
    assert victim.read_text(encoding="utf-8") == PRECIOUS
    assert link.is_symlink() and link.resolve() == victim.resolve()


def leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.endswith(".tmp")
                  or p.name.startswith(".write-test"))


WRITERS = [  # (the name, a call that writes it into a run folder)
    (rundir.CONFIG, lambda d: rundir.write_config(d, {"hidden_nodes": 8})),
    (rundir.HISTORY, lambda d: rundir.write_history(d, [{"step": 0, "valid_bpc": 8.0}])),
    (rundir.CORPUS, lambda d: rundir.write_corpus(d, {"sha256": "0" * 64})),
    (rundir.PROGRESSION, lambda d: rundir.write_progression(d, [{"step": 0, "text": "a"}])),
    (rundir.METRICS, lambda d: rundir.write_metrics(d, {"steps": 5})),
    (rundir.ERROR, lambda d: rundir.write_error(d, {"error": "ValueError: x"})),
    (rundir.SAMPLES, lambda d: rundir.write_samples(d, {"samples": []}, "a\n")),
    (rundir.SAMPLES_TEXT, lambda d: rundir.write_samples(d, {"samples": []}, "a\n")),
]


@pytest.mark.parametrize("name, write", WRITERS, ids=[name for name, _ in WRITERS])
def test_every_run_file_writer_refuses_a_link_and_leaves_its_target_alone(run_dir, victim,
                                                                           name, write):
    link = plant(run_dir / name, victim)
    with pytest.raises(LinkRefusedError, match=refusal(name, run_dir)) as caught:
        write(run_dir)
    assert "\n" not in str(caught.value)
    untouched(victim, link)
    assert leftovers(run_dir) == []


def test_a_dangling_link_is_refused_and_its_target_not_created(run_dir, tmp_path):
    target = tmp_path / "elsewhere" / "created-by-the-run.json"
    link = plant(run_dir / rundir.HISTORY, target)
    with pytest.raises(LinkRefusedError, match=refusal(rundir.HISTORY, run_dir)):
        rundir.write_history(run_dir, [])
    assert link.is_symlink() and not target.parent.exists()


def test_vocabulary_json_refuses_a_link(run_dir, victim):
    link = plant(run_dir / rundir.VOCABULARY, victim)
    with pytest.raises(LinkRefusedError, match=refusal(rundir.VOCABULARY, run_dir, "folder")):
        Vocabulary(("a", "b")).save(run_dir / rundir.VOCABULARY)
    untouched(victim, link)


def test_a_link_planted_after_the_check_is_replaced_not_written_through(run_dir, victim,
                                                                        monkeypatch):
    """The rename is what keeps the victim safe: the check only makes the refusal clear."""
    link = plant(run_dir / rundir.CONFIG, victim)
    monkeypatch.setattr(paths, "refuse_link", lambda path, kind="folder": Path(path))
    rundir.write_config(run_dir, {"hidden_nodes": 8})
    assert victim.read_text(encoding="utf-8") == PRECIOUS
    assert not link.is_symlink() and rundir.read_config(run_dir) == {"hidden_nodes": 8}


def test_a_new_file_is_never_opened_through_a_link(run_dir, victim):
    link = plant(run_dir / ".config.json.0123456789abcdef.tmp", victim)
    with pytest.raises(FileExistsError):
        paths.create_new(link)
    untouched(victim, link)


def test_a_temporary_name_is_random_so_a_planted_one_is_never_used(run_dir, victim,
                                                                   monkeypatch):
    names = []
    real = paths.create_new
    monkeypatch.setattr(paths, "create_new", lambda path: names.append(Path(path).name)
                        or real(path))
    for _ in range(2):
        rundir.write_metrics(run_dir, {"steps": 5})
    assert len(set(names)) == 2
    assert all(re.fullmatch(r"\.metrics\.json\.[0-9a-f]{16}\.tmp", name) for name in names)


# --- Checkpoints: TensorFlow's state file and the damaged/ folder ----------------------------


def test_the_checkpoint_state_file_refuses_a_link(run_dir, victim):
    checkpoints = run_dir / rundir.CHECKPOINTS
    link = plant(checkpoints / rundir.CHECKPOINT_STATE, victim)
    with pytest.raises(LinkRefusedError, match=refusal("checkpoint", checkpoints)):
        rundir.write_checkpoint_state(checkpoints, 5)
    untouched(victim, link)


def test_a_linked_checkpoints_or_damaged_folder_is_refused(run_dir, victim):
    elsewhere = victim.parent
    checkpoints = plant(run_dir / rundir.CHECKPOINTS, elsewhere)
    with pytest.raises(LinkRefusedError, match=refusal(rundir.CHECKPOINTS, run_dir)):
        rundir.write_checkpoint_state(checkpoints, 5)
    checkpoints.unlink()
    checkpoints.mkdir()
    (checkpoints / "ckpt-5.index").write_bytes(b"index")
    plant(checkpoints / rundir.DAMAGED, elsewhere)
    with pytest.raises(LinkRefusedError, match=refusal(rundir.DAMAGED, checkpoints)):
        rundir.set_aside(checkpoints, 5)
    assert sorted(p.name for p in elsewhere.iterdir()) == [victim.name]
    assert (checkpoints / "ckpt-5.index").read_bytes() == b"index"


# --- .lock ------------------------------------------------------------------------------------


def test_a_lock_that_is_a_link_is_refused_and_its_target_kept(run_dir, victim):
    link = plant(run_dir / rundir.LOCK, victim)
    with pytest.raises(LinkRefusedError, match=refusal(rundir.LOCK, run_dir)):
        with rundir.training_lock(run_dir):
            pytest.fail("trained into a folder whose lock is a link")
    untouched(victim, link)


@pytest.mark.parametrize("dangling", [False, True], ids=["to a file", "to no file"])
def test_a_lock_linked_after_the_check_is_not_opened(run_dir, victim, monkeypatch, dangling):
    """O_NOFOLLOW: the link is planted between the check and the open (a dangling one would
    otherwise have its target created)."""
    link, target = run_dir / rundir.LOCK, victim.with_name("new") if dangling else victim
    real, calls = rundir.refuse_link, []

    def link_planted_after_the_first_check(path, kind="folder"):
        calls.append(path)
        if len(calls) == 1:
            plant(link, target)
            return Path(path)
        return real(path, kind)

    monkeypatch.setattr(rundir, "refuse_link", link_planted_after_the_first_check)
    with pytest.raises(LinkRefusedError, match=refusal(rundir.LOCK, run_dir)):
        with rundir.training_lock(run_dir):
            pytest.fail("trained into a folder whose lock is a link")
    assert link.is_symlink() and not target.with_name("new").exists()
    assert victim.read_text(encoding="utf-8") == PRECIOUS


def test_a_lock_that_is_a_hard_link_is_refused_and_its_target_kept(run_dir, victim):
    os.link(victim, run_dir / rundir.LOCK)
    message = re.escape(f".lock in {relative(run_dir)} is a hard link to another file; a run "
                        "folder's files must be plain files: remove it")
    with pytest.raises(LinkRefusedError, match=message):
        with rundir.training_lock(run_dir):
            pytest.fail("trained into a folder whose lock is a hard link")
    assert victim.read_text(encoding="utf-8") == PRECIOUS


def test_a_plain_lock_is_still_taken_and_removed(run_dir):
    with rundir.training_lock(run_dir):
        assert '"pid"' in (run_dir / rundir.LOCK).read_text(encoding="utf-8")
    assert not (run_dir / rundir.LOCK).exists()


# --- loss_curve.png ---------------------------------------------------------------------------


@pytest.fixture
def curve():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    ax = plots.plot_history([{"step": 0, "train_bpc": 4.0, "valid_bpc": 4.2},
                             {"step": 5, "train_bpc": 3.0, "valid_bpc": 3.3}])
    yield ax
    plt.close(ax.figure)


def test_the_loss_curve_refuses_a_link(run_dir, victim, curve):
    link = plant(run_dir / rundir.LOSS_CURVE, victim)
    with pytest.raises(LinkRefusedError, match=refusal(rundir.LOSS_CURVE, run_dir)):
        plots.save_figure(curve, run_dir / rundir.LOSS_CURVE)
    untouched(victim, link)
    assert leftovers(run_dir) == []


def test_the_loss_curve_is_written_whole_under_its_name(run_dir, curve):
    plots.save_figure(curve, run_dir / rundir.LOSS_CURVE)
    assert (run_dir / rundir.LOSS_CURVE).read_bytes().startswith(b"\x89PNG\r\n\x1a\n")
    assert leftovers(run_dir) == []


# --- A sweep's summary.csv (paths.write_text, as helpers.runs writes it) ---------------------


def test_summary_csv_refuses_a_link(tmp_path, victim):
    sweep = tmp_path / "sweep"
    link = plant(sweep / "summary.csv", victim)
    with pytest.raises(LinkRefusedError, match=refusal("summary.csv", sweep, "sweep folder")):
        paths.write_text(sweep / "summary.csv", "run,status\r\n", "sweep folder")
    untouched(victim, link)


def test_a_link_at_the_old_fixed_temporary_name_is_never_used(tmp_path, victim):
    sweep = tmp_path / "sweep"
    link = plant(sweep / ".summary.csv.tmp", victim)
    paths.write_text(sweep / "summary.csv", "run,status\r\na,ok\r\n", "sweep folder")
    untouched(victim, link)
    summary = sweep / "summary.csv"
    assert not summary.is_symlink() and summary.read_bytes() == b"run,status\r\na,ok\r\n"


def test_the_sweeps_own_summary_writer_never_follows_a_link(tmp_path, victim):
    from helpers import runs

    sweep = tmp_path / "sweep"
    summary = sweep / "summary.csv"
    rows = [{"run": "max_steps=5", "max_steps": 5, "status": "ok", "error": ""}]
    link = plant(summary, victim)
    with pytest.raises(LinkRefusedError, match=refusal("summary.csv", sweep, "sweep folder")):
        runs._write_summary(summary, rows)
    untouched(victim, link)
    assert leftovers(sweep) == []
    link.unlink()
    old = plant(sweep / ".summary.csv.tmp", victim)  # the fixed temporary name it once used
    runs._write_summary(summary, rows)
    untouched(victim, old)
    assert not summary.is_symlink()
    assert summary.read_bytes() == b"run,max_steps,status,error\r\nmax_steps=5,5,ok,\r\n"


# --- check_writable: the probe, links, and folders that cannot be written ---------------------


def test_check_writable_creates_the_folder_and_leaves_no_probe(tmp_path):
    run_dir = tmp_path / "outputs" / "run"
    assert rundir.check_writable(run_dir) is True
    assert run_dir.is_dir() and list(run_dir.iterdir()) == []
    assert rundir.check_writable(run_dir) is False


def test_the_probe_never_follows_a_link(run_dir, victim, monkeypatch):
    old = plant(run_dir / ".write-test", victim)  # the fixed name an older probe used
    assert rundir.check_writable(run_dir) is False
    untouched(victim, old)
    assert leftovers(run_dir) == [".write-test"]
    # Even a link planted at the random name itself is not written through.
    monkeypatch.setattr(rundir.secrets, "token_hex", lambda n: "0" * (2 * n))
    guessed = plant(run_dir / f".write-test-{'0' * 16}", victim)
    with pytest.raises(ValueError, match="cannot be written: File exists"):
        rundir.check_writable(run_dir)
    untouched(victim, guessed)


@pytest.mark.parametrize("name", rundir.OWNED)
def test_check_writable_refuses_a_link_at_any_name_the_run_writes(run_dir, victim, name):
    link = plant(run_dir / name, victim)
    with pytest.raises(LinkRefusedError, match=refusal(name, run_dir)):
        rundir.check_writable(run_dir)
    untouched(victim, link)


def test_check_writable_refuses_a_file_in_place_of_the_folder(tmp_path):
    not_a_folder = tmp_path / "run"
    not_a_folder.write_text("x")
    with pytest.raises(ValueError, match=re.escape(
            f"output_dir {relative(not_a_folder)!r} is not a folder: choose another "
            "output_dir")):
        rundir.check_writable(not_a_folder)
    with pytest.raises(ValueError, match="cannot be written: Not a directory$"):
        rundir.check_writable(not_a_folder / "run")


def test_a_read_only_run_folder_is_one_line(read_only):
    run_dir = read_only / "run"
    with pytest.raises(ValueError) as caught:
        rundir.check_writable(run_dir)
    assert re.fullmatch(rf"output_dir {re.escape(repr(relative(run_dir)))} cannot be written: "
                        r"(Permission denied|Operation not permitted)", str(caught.value))
    assert sorted(p.name for p in run_dir.iterdir()) == [rundir.CONFIG]


def test_a_run_folder_under_a_read_only_folder_is_one_line(read_only):
    run_dir = read_only / "new-run"
    with pytest.raises(ValueError, match=r"cannot be written: (Permission denied|Operation not "
                                         r"permitted)$"):
        rundir.check_writable(run_dir)
    assert not run_dir.exists()


@pytest.mark.skipif(not Path("/proc/self").is_dir(), reason="needs Linux's /proc")
def test_a_run_folder_where_no_folder_can_be_made_is_one_line():
    """/proc refuses new folders even to root."""
    run_dir = Path("/proc/self/run")
    with pytest.raises(ValueError, match=r"^output_dir '.*' cannot be written: [^\n]+$"):
        rundir.check_writable(run_dir)


# --- Through training itself ------------------------------------------------------------------


def test_training_into_a_folder_whose_lock_is_a_link_is_refused(run_dir, victim):
    from conftest import TINY_TEXT

    from helpers.config import TrainConfig
    from helpers.training import train

    link = plant(run_dir / rundir.LOCK, victim)
    config = TrainConfig(batch_size=8, len_per_section=20, hidden_nodes=16, log_every=5,
                         save_every=5, valid_chars=2_000, max_steps=5, sample_chars=0,
                         text_file=str(TINY_TEXT), output_dir=str(run_dir))
    with pytest.raises(LinkRefusedError, match=refusal(rundir.LOCK, run_dir)):
        train(config, progress=False, verbose=False)
    untouched(victim, link)
    assert sorted(p.name for p in run_dir.iterdir()) == [rundir.LOCK]


def test_training_into_a_folder_whose_lesson_folder_is_a_link_is_refused(run_dir, victim):
    """Notebook 04 writes its lesson's text and runs into run_dir/lesson/."""
    from conftest import tiny

    from helpers.training import train

    elsewhere = victim.parent
    link = plant(run_dir / rundir.LESSON, elsewhere)
    with pytest.raises(LinkRefusedError, match=refusal(rundir.LESSON, run_dir)):
        train(tiny(run_dir.parent, max_steps=5), progress=False, verbose=False)
    assert link.is_symlink() and sorted(p.name for p in elsewhere.iterdir()) == [victim.name]
    assert sorted(p.name for p in run_dir.iterdir()) == [rundir.LESSON]


def test_a_link_at_a_checkpoints_temporary_name_is_removed_never_followed(run_dir, victim):
    """TensorFlow saves into ckpt-<step>_temp/, a name anyone can guess: a link left there
    would receive the next save's files."""
    from helpers.checkpoints import remove_unfinished_saves

    checkpoints = run_dir / rundir.CHECKPOINTS
    elsewhere = victim.parent
    to_folder = plant(checkpoints / "ckpt-15_temp", elsewhere)
    to_file = plant(checkpoints / "ckpt-20_temp", victim)
    unfinished = checkpoints / "ckpt-25_temp"
    unfinished.mkdir()
    (unfinished / "part-00000-of-00001.data-00000-of-00001").write_bytes(b"half a save")
    remove_unfinished_saves(checkpoints)
    assert list(checkpoints.iterdir()) == []
    assert not to_folder.is_symlink() and not to_file.is_symlink()
    assert sorted(p.name for p in elsewhere.iterdir()) == [victim.name]
    assert victim.read_text(encoding="utf-8") == PRECIOUS


@pytest.mark.slow  # trains twice: in make test, not test-fast
def test_a_save_never_goes_through_a_link_at_its_temporary_name(run_dir, victim):
    from conftest import tiny

    from helpers.training import train

    train(tiny(run_dir.parent, max_steps=5, save_every=5), progress=False, verbose=False)
    elsewhere = victim.parent
    link = plant(run_dir / rundir.CHECKPOINTS / "ckpt-10_temp", elsewhere)
    history = train(tiny(run_dir.parent, max_steps=10, save_every=5), progress=False,
                    verbose=False)
    assert history[-1]["step"] == 10 and rundir.saved_step(run_dir) == 10
    assert not link.is_symlink() and not link.exists()
    assert sorted(p.name for p in elsewhere.iterdir()) == [victim.name]
