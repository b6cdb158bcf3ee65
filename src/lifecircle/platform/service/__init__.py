"""Domain operations of the platform: circles and their status, funds, scorecards, evaluator
scores and evidence, grade decisions, surveys, the dashboard and district reports.

Every function takes the caller's SQLAlchemy session (opened with
:func:`lifecircle.platform.db.transaction`) and the acting user, checks the role and district,
validates the input (raising :class:`InputError` whose problems name the field), makes the change
and adds the audit row in the same transaction.

The role and district rules themselves live in :mod:`lifecircle.platform.permissions` (re-exported
here: ``can_see_district``, ``require_see``, ``require_edit``, ``require_role``).

One module per area, all re-exported here so callers write ``service.change_status(...)``:
``circles`` (status workflow, funds), ``evaluation`` (scorecards, scores, evidence, grades),
``surveys``, ``progress`` (dashboard, contradictions), ``reports`` (district reports, map) and
``accounts`` (audit log, accounts, passwords, the operator's commands).
"""

from lifecircle.platform.permissions import (  # noqa: F401 - re-exported
    can_see_district,
    require_edit,
    require_role,
    require_see,
)
from lifecircle.platform.service._common import (  # noqa: F401 - the service's public names
    DECISIONS,
    FUND_KINDS,
    GRADES,
    PERIOD_RE,
    _problems,
    visible_districts,
)
from lifecircle.platform.service.accounts import (  # noqa: F401 - the service's public names
    UserRow,
    audit_log,
    audit_search,
    change_own_password,
    change_user_role,
    create_account,
    list_users,
    reset_password,
    set_user_active,
    system_find_user,
    system_list_users,
    system_reset_password,
)
from lifecircle.platform.service.circles import (  # noqa: F401 - the service's public names
    add_fund,
    change_status,
    create_circle,
    funds,
    get_circle,
    list_circles,
    status_history,
)
from lifecircle.platform.service.complaints import (  # noqa: F401 - the service's public names
    answer_complaint,
    file_complaint,
    list_complaints,
    route_point,
)
from lifecircle.platform.service.evaluation import (  # noqa: F401 - the service's public names
    add_score,
    evidence_file,
    evidence_list,
    grade_decisions,
    put_scorecard,
    record_grade,
    save_evidence,
    scorecards,
    scores,
)
from lifecircle.platform.service.progress import (  # noqa: F401 - the service's public names
    PhaseProgress,
    contradictions,
    dashboard,
    latest_scorecards,
)
from lifecircle.platform.service.reports import (  # noqa: F401 - the service's public names
    circles_geojson,
    create_report,
    edit_report,
    generate_report_text,
    get_report,
    list_reports,
    map_layer,
    period_end,
    report_versions,
    statuses_as_of,
)
from lifecircle.platform.service.resident_surveys import (  # noqa: F401 - the service's public names
    breakdown,
    create_questionnaire,
    issue_codes,
    list_questionnaires,
    submit_answers,
    update_questionnaire,
)
from lifecircle.platform.service.supervision import (  # noqa: F401 - the service's public names
    add_inspection_photo,
    designate_integrity,
    generate_inspection_plan,
    inspector_plan,
    integrity_list,
    list_inspections,
    outlet_credit,
    recompute_credit,
    record_inspection,
)
from lifecircle.platform.service.surveys import (  # noqa: F401 - the service's public names
    MAX_RESPONDENTS,
    create_survey,
    record_survey_results,
    satisfaction_trend,
    surveys,
)
