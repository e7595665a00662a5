"""The new-memories rule on its own: thresholds, run keys, the cursor."""

from consolidation_assets.services.triggers import ArrivalCursor, ProjectArrivals, plan_arrivals


def test_a_project_is_due_at_the_threshold_and_its_count_restarts() -> None:
    plan = plan_arrivals(
        ArrivalCursor(),
        [ProjectArrivals("web", 120, 120), ProjectArrivals("mobile", 30, 150)],
        threshold=100,
    )
    assert plan.due == {"web": "web:120"}
    assert plan.seen == ["mobile", "web"]
    assert plan.cursor.last_seq == 150 and plan.cursor.pending == {"mobile": 30}

    again = plan_arrivals(plan.cursor, [ProjectArrivals("mobile", 80, 230)], threshold=100)
    assert again.due == {"mobile": "mobile:230"}
    assert again.cursor.pending == {} and again.cursor.last_seq == 230


def test_nothing_new_changes_nothing() -> None:
    cursor = ArrivalCursor(last_seq=10, pending={"web": 5}, project_seq={"web": 10})
    plan = plan_arrivals(cursor, [], threshold=100)
    assert plan.due == {} and plan.cursor == cursor


def test_cursor_round_trips_and_unsafe_projects_are_skipped() -> None:
    plan = plan_arrivals(ArrivalCursor(), [ProjectArrivals("a,b", 500, 500)], threshold=1)
    assert plan.due == {} and "a,b" in plan.skipped and plan.cursor.last_seq == 500
    assert ArrivalCursor.from_json(plan.cursor.to_json()) == plan.cursor
    assert ArrivalCursor.from_json(None) == ArrivalCursor()
