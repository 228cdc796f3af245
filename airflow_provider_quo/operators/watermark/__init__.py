"""The incremental cleanup's watermark and claims: which stale conversations a run is responsible for.

The keys, spans and state (:mod:`.state`) and each run's window (:mod:`.window`) are pure logic, no
Airflow; :mod:`.variable` reads and writes the state.

Every stale conversation has a **key**: the instant it became stale (see
:meth:`~airflow_provider_quo.operators._staleness.StalenessRule.assess`) and its id, which orders the
conversations that became stale at the same instant. A span ``(lo, hi]`` is a range of keys.

The state of one listing task holds

- the **watermark**: every key up to it was selected by runs whose marking succeeded;
- **claims**: the spans each recent run selected, ``in_flight`` until its marking is known to have
  succeeded (then ``done``), dropped when its run ended any other way;
- the **selection** settings they were made with (other settings: a fresh state, a full sweep).

A run at time ``T`` first resolves the claims, then selects ``(watermark, T]`` less every ``done`` span
and every span in flight in another run. A key nobody accounts for (a dropped claim, a lost write) is
therefore selected again: a lost update can cost extra marks, never a gap. Done spans that touch the
watermark move it on; it never moves back.
"""
