"""Sweep workers share the CPUs: each gets cores / workers OpenMP threads unless the user chose a number."""

from __future__ import annotations

import os

from toolkit.sweep.engine import worker_env


def test_workers_split_the_cores_and_a_user_setting_is_kept():
    cores = os.cpu_count() or 1
    assert worker_env(2, {"PATH": "/bin"}) == {"PATH": "/bin", "OMP_NUM_THREADS": str(max(1, cores // 2))}
    assert worker_env(4 * cores, {})["OMP_NUM_THREADS"] == "1"
    assert worker_env(2, {"OMP_NUM_THREADS": "3"}) == {"OMP_NUM_THREADS": "3"}
    assert worker_env(1, {}) == {}
