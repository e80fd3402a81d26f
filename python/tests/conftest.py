"""Fixtures for the udos Python binding tests."""

import os
import sys

import pytest

import udos

HERE = os.path.dirname(os.path.abspath(__file__))


@pytest.fixture
def container(tmp_path):
    """An initialised, empty container (default options)."""
    cont = udos.Container(tmp_path / 'cont')
    cont.init_container()
    yield cont
    cont.close()


@pytest.fixture
def make_container(tmp_path):
    """Factory: make_container(name, **init_kwargs) -> initialised Container."""
    made = []

    def _make(name='c', **kwargs):
        cont = udos.Container(tmp_path / name)
        cont.init_container(**kwargs)
        made.append(cont)
        return cont

    yield _make
    for cont in made:
        cont.close()


@pytest.fixture
def subprocess_env():
    """Environment for child Pythons: the same udos on sys.path."""
    env = dict(os.environ)
    pkg_parent = os.path.dirname(os.path.dirname(os.path.abspath(udos.__file__)))
    env['PYTHONPATH'] = os.pathsep.join([pkg_parent, HERE] + [p for p in sys.path if p])
    return env
