"""Publication of the log, to be included under /transparency/ (read-only, public, cacheable):

  checkpoint                    the latest signed checkpoint (C2SP tlog-checkpoint)
  tile/<L>/<N>[.p/<W>]          Merkle tree tiles (C2SP tlog-tiles); no entry bundles, since the
                                entries are personal data
  proof/<seq>                   inclusion proof of an event (C2SP tlog-proof), hashes only

`citizen_urlpatterns` is the person's own view ("who used my data"), to be included in the
account area.
"""

from django.urls import URLPattern, path, re_path

from guichet.audit import views

urlpatterns: list[URLPattern] = [
    path("checkpoint", views.checkpoint, name="transparency_checkpoint"),
    re_path(
        r"^tile/(?P<level>0|[1-9][0-9]?)/(?P<index>(?:x[0-9]{3}/)*[0-9]{3})"
        r"(?:\.p/(?P<width>[1-9][0-9]{0,2}))?$",
        views.tile,
        name="transparency_tile",
    ),
    path("proof/<int:seq>", views.proof, name="transparency_proof"),
]

citizen_urlpatterns: list[URLPattern] = [
    path("", views.my_data_accesses, name="my_data_accesses"),
    path("proofs.json", views.my_data_access_proofs, name="my_data_access_proofs"),
    path("<int:seq>.tlog-proof", views.my_data_access_proof, name="my_data_access_proof"),
]
