"""The tables runner end to end on a tiny encoder and a small generated table: every table runs, the
learning rate is chosen on validation, the test split is read once per row and seed, a rerun skips
finished rows, and the results files (Markdown, JSON, PNG) hold what was measured."""

from __future__ import annotations

import json

import pytest
import torch
from safetensors.torch import load_file
from synthetic import write_table_csv

from flip_hf import paper_tables
from flip_hf.paper_tables import PROFILES, TABLES, FinetuneBudget, Row, run_table, write_report
from flip_hf.paper_tables import runner as runner_module

pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def smoke_profile(tmp_path_factory, tiny_plm):
    path = write_table_csv(tmp_path_factory.mktemp("table"), 500, seed=5)
    return PROFILES["cpu"].replace(
        name="smoke",
        dataset="csv",
        data_files=str(path),
        time_column="ts",
        user_fields=("user id", "gender", "occupation"),
        plm=tiny_plm,
        num_text_layers=None,
        pretrain_batch_size=64,
        pretrain_learning_rate=1e-3,
        id_finetune=FinetuneBudget((1e-3, 5e-3), max_epochs=2, patience=1, batch_size=64),
        text_finetune=FinetuneBudget((1e-3,), max_epochs=1, patience=1, batch_size=64, text_learning_rate=1e-4),
        id_seeds=(1, 2),
        text_seeds=(1,),
        eval_batch_size=256,
    )


@pytest.fixture(scope="module")
def work_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("work")


def count_calls(monkeypatch, name):
    calls = []
    original = getattr(runner_module, name)

    def wrapped(*args, **kwargs):
        calls.append(args)
        return original(*args, **kwargs)

    monkeypatch.setattr(runner_module, name, wrapped)
    return calls


def test_table_2_selects_on_validation_and_reads_test_once(smoke_profile, work_dir, monkeypatch, tmp_path):
    evaluations = count_calls(monkeypatch, "predict_ctr")
    results = run_table("2", smoke_profile, work_dir)
    names = [r.name for r in TABLES["2"]]
    assert list(dict.fromkeys(r["row"] for r in results)) == names
    per_row = {n: [r for r in results if r["row"] == n] for n in names}
    # ID rows: 2 seeds; text rows: 1; P5 waits for a T5 checkpoint
    assert [len(per_row[n]) for n in names] == [2, 2, 1, 1, 1, 1, 2, 1, 1]
    assert per_row["P5"] == [{"row": "P5", "mode": "p5", "skipped": "needs a T5 checkpoint (--p5_plm)"}]
    results = [r for r in results if "skipped" not in r]
    for r in results:
        lrs = [g["learning_rate"] for g in r["grid"]]
        best = max(r["grid"], key=lambda g: g["validation_auc"])
        assert r["learning_rate"] == best["learning_rate"] and r["validation_auc"] == best["validation_auc"]
        assert lrs == ([1e-3] if r["mode"] != "id" else [1e-3, 5e-3])
        assert r["test_samples"] == 50 and r["validation_samples"] == 45 and r["train_samples"] == 405
    # FLIP_PLM searched the text rows' recipe (here a grid of one); the other text rows took it
    for name in ("CTR-BERT", "PTab", "PLM (no pretraining)", "FLIP"):
        taken = per_row[name][0]["recipe_from"]
        assert taken == {"row": "FLIP_PLM", "seed": 1, "learning_rate": 1e-3, "text_learning_rate": 1e-4}
    no_pretraining = per_row["PLM (no pretraining)"][0]
    assert no_pretraining["pretrain"] is None and no_pretraining["text_learning_rate"] == 1e-4
    splits = [args[2] for args in evaluations]
    grid_runs = sum(len(r["grid"]) for r in results)
    assert splits.count("test") == len(results) and splits.count("validation") == grid_runs
    # one pretraining per preset, shared by its rows; CTRL and PTab are their own presets
    presets = {r["preset"]: r["pretrain"]["folder"] for r in results if r["preset"]}
    assert set(presets) == {"ctrl", "ptab", "flip"} and len(set(presets.values())) == 3
    ctrl = next(r for r in results if r["row"] == "CTRL")["pretrain"]
    assert ctrl["config_overrides"] == {"use_mlm": False, "use_mtm": False, "id_model": "dcnv2"}
    assert ctrl["final_losses"]["mlm_loss"] == 0 and ctrl["final_losses"]["icl_loss"] > 0

    skipped = [{"row": "P5", "mode": "p5", "skipped": "needs a T5 checkpoint (--p5_plm)"}]
    meta = {"command": "test", "wall_time_s": 1.0}
    paths = write_report("2", smoke_profile, results + skipped, tmp_path, "cpu", meta)
    summary = json.loads(open(paths["json"]).read())["summary"]
    flip_id = next(e for e in summary if e["row"] == "FLIP_ID")
    diff = flip_id["paired_auc_difference"]
    dcn = {r["seed"]: r["auc"] for r in per_row["DCNv2"]}
    assert diff["against"] == "DCNv2" and diff["per_seed"] == [r["auc"] - dcn[r["seed"]] for r in per_row["FLIP_ID"]]
    markdown = open(paths["md"]).read()
    assert "| FLIP_ID |" in markdown and "0.8600" in markdown and "FLIP_ID − DCNv2" in markdown
    assert "| P5 | needs a T5 checkpoint" in markdown and "| CTR-BERT |" in markdown
    assert open(paths["png"], "rb").read(8) == b"\x89PNG\r\n\x1a\n"


def test_a_rerun_skips_finished_rows(smoke_profile, work_dir, monkeypatch):
    trainings = count_calls(monkeypatch, "train_ctr")
    pretrainings = count_calls(monkeypatch, "run_pretrain")
    again = run_table("2", smoke_profile, work_dir, rows=["FLIP_ID", "DCNv2"])
    assert trainings == [] and pretrainings == [] and len(again) == 4
    with pytest.raises(ValueError, match="no row"):
        run_table("2", smoke_profile, work_dir, rows=["FLIP++"])


def test_a_refit_trains_the_chosen_recipe_on_train_and_validation(smoke_profile, work_dir, monkeypatch, tmp_path):
    rows = ["DCNv2", "FLIP_ID"]
    selected = {(r["row"], r["seed"]): r for r in run_table("2", smoke_profile, work_dir, rows=rows)}
    trainings = count_calls(monkeypatch, "train_ctr")
    pretrainings = count_calls(monkeypatch, "run_pretrain")
    evaluations = count_calls(monkeypatch, "predict_ctr")
    refit = smoke_profile.replace(refit=True)
    results = run_table("2", refit, work_dir, rows=rows)
    # the selection is read back; each (row, seed) trains once more, FLIP's pretraining once more
    assert len(trainings) == len(results) == 4 and len(pretrainings) == 1
    assert [args[2] for args in evaluations] == ["test"] * 4  # no validation split to read
    for r in results:
        chosen = selected[r["row"], r["seed"]]
        assert r["train_samples"] == 450 and r["test_samples"] == 50  # 405 train + 45 validation
        assert (r["learning_rate"], r["validation_auc"]) == (chosen["learning_rate"], chosen["validation_auc"])
        # the row's epoch count: the best of the validation AUC averaged over its seeds, not one seed's stop
        curves = [selected[r["row"], s]["validation_curve"] for s in (1, 2)]
        mean = [sum(c[e] for c in curves) / 2 for e in range(min(map(len, curves)))]
        assert r["epochs_run"] == r["refit_epochs"] == 1 + max(range(len(mean)), key=mean.__getitem__)
        assert r["without_refit"]["auc"] == chosen["auc"]
    flip = next(r for r in results if r["row"] == "FLIP_ID")
    assert flip["pretrain"]["train_samples"] == 450
    assert flip["pretrain"]["folder"] != selected["FLIP_ID", flip["seed"]]["pretrain"]["folder"]
    trainings.clear()
    assert run_table("2", refit, work_dir, rows=rows) == results and trainings == []  # a rerun trains nothing
    paths = write_report("2", refit, results, tmp_path, "cpu", {"command": "test", "wall_time_s": 1.0})
    assert paths["md"].endswith("table2_csv_smoke_refit_cpu.md") and "Refit:" in open(paths["md"]).read()


@pytest.mark.slow
def test_tables_3_and_7_run_end_to_end(smoke_profile, work_dir):
    three = run_table("3", smoke_profile.replace(id_seeds=(1,)), work_dir)
    assert {r["id_model"] for r in three} == {"deepfm", "autoint", "dcnv2"} and len(three) == 12
    seven = run_table("7", smoke_profile, work_dir)
    assert [r["row"] for r in seven] == [r.name for r in TABLES["7"]]
    without_all = next(r for r in seven if r["row"] == "w/o all")
    assert without_all["preset"] is None and without_all["mode"] == "joint"
    token = next(r for r in seven if r["row"] == "w/o field-level masking")
    assert token["pretrain"]["config_overrides"]["text_masking"] == "token"


def test_main_writes_named_results_files(smoke_profile, work_dir, tmp_path, monkeypatch):
    argv = ["--table", "pooling", "--profile", "cpu", "--work_dir", str(work_dir), "--results_dir", str(tmp_path)]
    monkeypatch.setitem(paper_tables.PROFILES, "cpu", smoke_profile)
    out = paper_tables.main(argv)
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "tablepooling_csv_smoke_cpu.json",
        "tablepooling_csv_smoke_cpu.md",
        "tablepooling_csv_smoke_cpu.png",
    ]
    assert {r["finetune_overrides"]["text_pooling"] for r in out["results"]} == {"cls", "mean"}


def test_a_report_of_finished_rows_outlives_their_pretraining_folder(smoke_profile, work_dir, tmp_path, monkeypatch):
    monkeypatch.setitem(paper_tables.PROFILES, "cpu", smoke_profile)
    argv = ["--table", "2", "--rows", "DCNv2", "FLIP_ID", "--work_dir", str(work_dir), "--results_dir", str(tmp_path)]
    first = paper_tables.main(argv)
    report = tmp_path / "table2_csv_smoke_cpu.md"
    (folder,) = {r["pretrain"]["folder"] for r in first["results"] if r["pretrain"]}
    line = next(x for x in report.read_text().splitlines() if x.startswith(f"| {folder} | flip |"))
    kept = work_dir / "pretrain" / f"{folder}.kept"
    (work_dir / "pretrain" / folder).rename(kept)  # as if deleted; put back for the other tests
    try:
        pretrainings = count_calls(monkeypatch, "run_pretrain")
        paper_tables.main(argv)
    finally:
        kept.rename(work_dir / "pretrain" / folder)
    assert pretrainings == []
    assert line in report.read_text().splitlines()  # the same steps, time and final losses


def test_sweeps_are_tables_and_draw_auc_against_the_value(smoke_profile, tmp_path):
    from flip_hf.paper_tables import SWEEPS

    rows = TABLES["tau"]
    assert [r.pretrain_overrides["contrastive_tau"] for r in rows] == list(SWEEPS["tau"][1])
    assert all(r.mode == "id" and r.preset == "flip" for r in rows)
    masks = TABLES["mask_ratio"]
    assert [r.pretrain_overrides for r in masks][1] == {"text_mask_ratio": 0.3, "tab_mask_ratio": 0.3}
    fake = [  # two finished rows of the tau sweep
        {"row": rows[i].name, "mode": "id", "seed": 1, "auc": auc, "logloss": 0.5, "validation_auc": auc,
         "learning_rate": 1e-3, "best_epoch": 1.0, "wall_time_s": 1.0}
        for i, auc in ((1, 0.70), (4, 0.72))
    ]  # fmt: skip
    paths = write_report("tau", smoke_profile, fake, tmp_path, "cpu", {"command": "test", "wall_time_s": 1.0})
    assert open(paths["sweep"], "rb").read(8) == b"\x89PNG\r\n\x1a\n"


def test_a_pretraining_is_set_by_its_seed_not_by_what_ran_before(smoke_profile, tmp_path):
    def pretrained(seed, disturb, folder):
        torch.manual_seed(disturb)  # as if other rows had run earlier in the same process
        out, _ = runner_module.ensure_pretrained(
            Row("ICL", "id", "ctrl", pretrain_budget={"seed": seed}), smoke_profile, tmp_path / folder
        )
        return load_file(str(out / "model.safetensors"))

    first, again, other = pretrained(7, 0, "a"), pretrained(7, 1, "b"), pretrained(8, 0, "c")
    assert first.keys() == again.keys()
    assert all(torch.equal(first[k], again[k]) for k in first)
    assert any(not torch.equal(first[k], other[k]) for k in first)
    with pytest.raises(ValueError, match="unknown pretrain_budget"):
        runner_module.ensure_pretrained(Row("x", "id", "ctrl", pretrain_budget={"sed": 1}), smoke_profile, tmp_path)


def test_a_row_sets_the_text_depth_of_its_pretraining(smoke_profile, tmp_path):
    cut_profile = smoke_profile.replace(num_text_layers=1)  # as the cpu profile cuts MiniLM to 2 of 6
    full = Row("ICL, all text layers", "id", "ctrl", pretrain_budget={"num_text_layers": None})
    plain = Row("ICL", "id", "ctrl")
    assert runner_module.pretrain_key(full, cut_profile) != runner_module.pretrain_key(plain, cut_profile)
    depths = {}
    for row in (plain, full):
        out, summary = runner_module.ensure_pretrained(row, cut_profile, tmp_path)
        weights = load_file(str(out / "model.safetensors"))
        depths[row.name] = (summary["num_text_layers"], any(".layer.1." in k for k in weights))
    assert depths == {"ICL": (1, False), "ICL, all text layers": (2, True)}


def test_the_movielens_1m_profile_runs_the_evidence_table_end_to_end(smoke_profile, tmp_path, monkeypatch):
    """`ml1m_cpu` on a small table: the learning rate searched on the first seed only, the budget
    control at FLIP_ID's chosen recipe, pretraining on a capped subset, test predictions saved."""
    import numpy as np

    from flip_hf.metrics import ctr_metrics

    profile = PROFILES["ml1m_cpu"].replace(
        **{
            k: getattr(smoke_profile, k)
            for k in (
                "name",
                "dataset",
                "data_files",
                "time_column",
                "user_fields",
                "plm",
                "num_text_layers",
                "pretrain_batch_size",
            )
        },  # fmt: skip
        id_finetune=PROFILES["ml1m_cpu"].id_finetune.__class__(
            (1e-3, 5e-3), max_epochs=3, patience=1, batch_size=64, search_first_seed_only=True
        ),
        id_seeds=(1, 2),
        pretrain_max_samples=150,
        eval_batch_size=256,
    )
    rows = ["DCNv2", "FLIP_ID", "DCNv2 (FLIP_ID's budget)"]
    with pytest.raises(ValueError, match="select that row too"):
        run_table("evidence", profile, tmp_path, rows=["DCNv2 (FLIP_ID's budget)"])
    trainings = count_calls(monkeypatch, "_train_once")
    results = run_table("evidence", profile, tmp_path, rows=rows)  # the profile refits: these are the refits
    by = {(r["row"], r["seed"]): r for r in results}
    selection = run_table("evidence", profile.replace(refit=False), tmp_path, rows=rows, train=False)
    sel = {(r["row"], r["seed"]): r for r in selection}
    assert len(results) == len(selection) == 6
    for name in ("DCNv2", "FLIP_ID"):  # seed 1 searches both rates, seed 2 trains at seed 1's choice
        first, second = sel[name, 1], sel[name, 2]
        assert [g["learning_rate"] for g in first["grid"]] == [1e-3, 5e-3]
        assert [g["learning_rate"] for g in second["grid"]] == [first["learning_rate"]]
        assert second["learning_rate_searched_on_seed"] == 1 and "learning_rate_searched_on_seed" not in first
    for seed in (1, 2):  # the plain model at FLIP_ID's learning rate and epochs, no selection
        control, flip = sel["DCNv2 (FLIP_ID's budget)", seed], sel["FLIP_ID", seed]
        assert control["budget_of"] == {"row": "FLIP_ID", "learning_rate": flip["learning_rate"],
                                        "epochs": flip["row_epochs"]}  # fmt: skip
        assert control["learning_rate"] == flip["learning_rate"] and control["epochs_run"] == flip["row_epochs"]
        assert control["pretrain"] is None and "grid" not in control and control["validation_auc"] > 0
    for key, r in by.items():  # each selection's recipe again on train + validation, test read from it
        assert r["train_samples"] == 450 and r["learning_rate"] == sel[key]["learning_rate"]
        assert r["without_refit"]["auc"] == sel[key]["auc"] and r["epochs_run"] == sel[key]["row_epochs"]
    assert len(trainings) == (2 + 1) * 2 + 2 + 6  # selection: DCNv2, FLIP_ID (2 rates, then 1), the control; refits
    # one pretraining per run, on the whole train split, capped: the selection's is the refit's
    assert sel["FLIP_ID", 1]["pretrain"] == by["FLIP_ID", 1]["pretrain"]
    assert by["FLIP_ID", 1]["pretrain"]["train_samples"] == 150  # the cap, of 450 train rows
    pretrained = tmp_path / "pretrain" / by["FLIP_ID", 1]["pretrain"]["folder"]
    plain = runner_module.model_dir(TABLES["evidence"][0], profile, 1, tmp_path)  # DCNv2's refit
    assert json.loads((pretrained / "flip_feature_vocab.json").read_text()) == json.loads(
        (plain / "flip_feature_vocab.json").read_text()
    )  # the vocabulary of the whole train split either way
    for r in results + selection:  # every reported model's test predictions, from which its AUC is recomputed
        saved = np.load(tmp_path / r["predictions"])
        assert saved["probabilities"].dtype == np.float32 and len(saved["labels"]) == r["test_samples"] == 50
        assert ctr_metrics(saved["labels"], saved["probabilities"])["auc"] == pytest.approx(r["auc"], abs=1e-6)
    assert len({r["predictions"] for r in results + selection}) == 12
    trainings.clear()
    assert run_table("evidence", profile, tmp_path, rows=rows) == results and trainings == []

    # the report reads what is finished and trains nothing; the comparisons whose rows ran are made
    from flip_hf.paper_tables import evidence

    finished = run_table("evidence", profile, tmp_path, train=False)
    assert finished == results and trainings == []  # the other rows have not run: left out, not trained
    labels, users = evidence.test_users_and_labels(profile)
    report = evidence.evidence_report("evidence", finished, tmp_path, labels, users, replicates=50)
    names = [c["name"] for c in report["comparisons"]]
    assert names == ["FLIP_ID − DCNv2", "FLIP_ID − DCNv2 at FLIP_ID's budget", "DCNv2 at FLIP_ID's budget − DCNv2"]
    main = report["comparisons"][0]
    assert main["treatment_units"] == {by["FLIP_ID", 1]["pretrain"]["folder"]: 2}  # one run, its two seeds
    assert main["control_units"] == {"DCNv2, seed 1": 1, "DCNv2, seed 2": 1}
    assert main["conditional_on_one_run"] and "conditional on one pretraining run" in evidence.render_evidence_markdown(
        report, "t", {"command": "c", "commit": "x", "device": "cpu", "replicates": 50}
    )
    diff = main["auc_difference"]
    mean = lambda row: (by[row, 1]["auc"] + by[row, 2]["auc"]) / 2  # noqa: E731
    assert diff["estimate"] == pytest.approx(mean("FLIP_ID") - mean("DCNv2"), abs=1e-6)
    assert diff["low"] <= diff["estimate"] <= diff["high"] and len(main["delong_same_seed"]) == 2
    paths = evidence.write_evidence(
        report, tmp_path / "out" / "evidence", "t", {"command": "c", "commit": "x", "device": "cpu", "replicates": 50}
    )
    assert "no detectable effect" in open(paths["md"]).read() or "CI excludes zero" in open(paths["md"]).read()
    assert open(paths["png"], "rb").read(8) == b"\x89PNG\r\n\x1a\n"


def test_an_interrupted_selection_resumes_at_the_next_learning_rate(smoke_profile, tmp_path, monkeypatch):
    row = Row("DCNv2", "id")
    original = runner_module._train_once
    calls = []

    def crash_on_second(*args, **kwargs):
        calls.append(args[3].learning_rate)
        if len(calls) == 2:
            raise KeyboardInterrupt  # the session ends mid-grid
        return original(*args, **kwargs)

    monkeypatch.setattr(runner_module, "_train_once", crash_on_second)
    with pytest.raises(KeyboardInterrupt):
        runner_module.finetune_row(row, smoke_profile, 1, tmp_path, None)
    monkeypatch.setattr(
        runner_module, "_train_once", lambda *a, **k: (calls.append(a[3].learning_rate), original(*a, **k))[1]
    )
    result = runner_module.finetune_row(row, smoke_profile, 1, tmp_path, None)
    assert calls == [1e-3, 5e-3, 5e-3] and [g["learning_rate"] for g in result["grid"]] == [1e-3, 5e-3]
    # a saved best model its grid does not name (a crash between saving it and recording its rate): select again
    best = runner_module.model_dir(row, smoke_profile, 1, tmp_path)
    (best / runner_module.SELECTION_FILE).write_text(json.dumps({"pair": [0.1, None], "validation_auc": 1.0}))
    calls.clear()
    again = runner_module.finetune_row(row, smoke_profile, 1, tmp_path, None)
    assert calls == [1e-3, 5e-3] and again["learning_rate"] == result["learning_rate"]


def test_a_profile_without_data_names_the_flag_and_the_variable(monkeypatch):
    from flip_hf.paper_tables.profiles import DATA_DIR_ENV

    monkeypatch.delenv(DATA_DIR_ENV, raising=False)
    with pytest.raises(ValueError, match=f"--data_dir.*{DATA_DIR_ENV}"):
        runner_module.data_arguments(PROFILES["ml1m_cpu"])
    monkeypatch.setenv(DATA_DIR_ENV, "/data/ml-1m")
    assert runner_module.data_arguments(PROFILES["ml1m_cpu"]).data_dir == "/data/ml-1m"
    assert runner_module.data_arguments(PROFILES["cpu"]).data_dir is None  # MovieLens-100K ships


def test_a_text_row_searches_the_text_encoders_learning_rate_with_warmup(smoke_profile, tmp_path, monkeypatch):
    budget = FinetuneBudget(
        (1e-3,), max_epochs=1, patience=1, batch_size=64, text_learning_rates=(1e-4, 3e-4), warmup_ratio=0.1
    )
    profile = smoke_profile.replace(text_finetune=budget)
    assert runner_module.row_key(Row("x", "plm"), profile, 1) != runner_module.row_key(
        Row("x", "plm"), smoke_profile, 1
    )
    trainings = count_calls(monkeypatch, "_train_once")
    result = runner_module.finetune_row(Row("PLM (no pretraining)", "plm"), profile, 1, tmp_path, None)
    assert [(g["learning_rate"], g["text_learning_rate"]) for g in result["grid"]] == [(1e-3, 1e-4), (1e-3, 3e-4)]
    best = max(result["grid"], key=lambda g: g["validation_auc"])
    assert result["text_learning_rate"] == best["text_learning_rate"] and result["searched_text_learning_rates"] == [
        1e-4,
        3e-4,
    ]
    for args in trainings:  # each pair trains with its own text rate, after a linear warmup
        training_args, text_lr = args[3], args[7]
        assert training_args.lr_scheduler_type == "constant_with_warmup" and training_args.warmup_steps == 0.1
        assert text_lr in (1e-4, 3e-4)
    assert sorted(a[7] for a in trainings) == [1e-4, 3e-4]
