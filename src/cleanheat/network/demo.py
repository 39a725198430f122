"""Demo data of the network area (``cleanheat init --demo``): the demo company's own registered network HB-N1
with its stations (the demo city, built and sized following Chinese practice, network/registry.py), and the two
real sized sample networks in data/networks (Bad Muskau and Görlitz, DistrictHeatSim, MIT licence), stored for
the demo heat company ``htjt``, each solved once and given a seasonal heat-loss analysis, so that the network page
has results right after ``make run``. Runs after the demo city (``ORDER``). Idempotent: a network that is already
stored is left alone."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from cleanheat.auth.service import Actor
from cleanheat.auth.tables import User
from cleanheat.config import Settings
from cleanheat.demo_accounts import ensure_demo_accounts
from cleanheat.network import service
from cleanheat.network.tables import StoredNetwork

ORDER = 65  # after the demo city (twin, 60), whose network HB-N1 and stations it simulates
#: the demo company's registered network (cleanheat.twin.demo.DEMO_CITY)
DEMO_REGISTERED = "HB-N1"
DEMO_COMPANY_USER = "htjt"
#: (folder under data/networks, stored name, description)
DEMO_NETWORKS = (
    ("bad-muskau", "Bad Muskau 热网 (示例)",
     "Bad Muskau 区域供热管网（德国，DistrictHeatSim 示例，MIT 许可），按 85/55 °C 设计工况计算 — "
     "demo network from DistrictHeatSim (MIT licence)"),
    ("goerlitz", "Görlitz 热网 (示例)",
     "Görlitz 小型供热管网（德国，DistrictHeatSim 示例，MIT 许可），按 85/55 °C 设计工况计算 — "
     "demo network from DistrictHeatSim (MIT licence)"),
)


def load_demo(session: Session, settings: Settings) -> str:
    ensure_demo_accounts(session)
    user = session.scalar(select(User).where(User.username == DEMO_COMPANY_USER))
    actor = Actor.for_user(user)
    done = []
    from cleanheat.assets.tables import Network as RegisteredNetwork
    from cleanheat.network.registry import network_document

    if session.scalar(select(RegisteredNetwork.id).where(RegisteredNetwork.code == DEMO_REGISTERED)):
        name = network_document(session, actor, DEMO_REGISTERED)["name"]
        if not session.scalar(select(StoredNetwork.id).where(StoredNetwork.org_id == actor.org_id,
                                                             StoredNetwork.name == name)):
            stored = service.import_registered(session, actor, DEMO_REGISTERED, insulation="old")
            service.seasonal_analysis(session, actor, settings, stored.id)
            done.append(f"{name} ({stored.n_pipes} pipes)")
    for folder, name, description in DEMO_NETWORKS:
        exists = session.scalar(select(StoredNetwork.id).where(StoredNetwork.org_id == actor.org_id,
                                                               StoredNetwork.name == name))
        if exists:
            continue
        path = settings.data_dir / "networks" / folder / "network-sized.geojson"
        stored = service.import_network(session, actor, path.read_bytes(), f"{folder}/network-sized.geojson",
                                        service.ImportOptions(fmt="geojson", name=name, description=description))
        service.seasonal_analysis(session, actor, settings, stored.id)
        done.append(f"{name} ({stored.n_pipes} pipes)")
    if not done:
        return "demo networks already loaded"
    return "stored and solved " + ", ".join(done)
