"""``add_with_ray`` on a real two-node Ray cluster (``ray.cluster_utils.Cluster``): the
embedding actors run on both nodes, and the index is the same as on one."""

from __future__ import annotations

from pathlib import Path

import pytest

from indexer.pipeline import Indexer
from tests.conftest import DEV_ARTICLES, store_settings
from tests.indexer.test_bulk import assert_exactly_split

pytestmark = pytest.mark.slow  # starts a two-node Ray cluster


def test_embedding_is_shared_out_over_two_nodes(tmp_path: Path) -> None:
    import ray
    from ray.cluster_utils import Cluster

    from indexer.bulk import add_with_ray

    cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 1})
    cluster.add_node(num_cpus=1)
    ray.init(address=cluster.address, include_dashboard=False, log_to_driver=False)
    settings = store_settings("embedded", tmp_path / "index", None)
    indexer = Indexer.from_settings(settings)
    try:
        assert len(ray.nodes()) == 2
        # One file of 12 articles: its articles are shared out in small blocks, not embedded
        # by whichever actor got the file.
        report = add_with_ray(indexer, settings, [DEV_ARTICLES], embed_actors=2)
        assert len(report.added) == 12 and not report.errors
        assert len(report.embedded_on) == 2, report.embedded_on  # both nodes embedded
        assert sum(report.embedded_on.values()) == report.passages_total
        assert assert_exactly_split(indexer)[1] == report.passages_total
    finally:
        indexer.store.close()
        ray.shutdown()
        cluster.shutdown()
