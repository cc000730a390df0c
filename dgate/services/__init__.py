"""DIMSE-N services: print management, storage commitment, performed procedure steps.

Plain classes that take a decoded request (:class:`~.nmessages.NRequest`) and return the
status and response data set (:class:`~.nmessages.NResponse`), plus, for storage
commitment, the N-EVENT-REPORT to send. The DIMSE layer looks a request up in
:data:`~.table.SERVICE_TABLE` by (command field, SOP class) and calls the service of
the association (:class:`~.table.AssociationServices`).

Layer: a capability package above :mod:`dgate.net`: :mod:`.plugin` (listed in
:mod:`dgate.hub.plugins`) registers the handlers in :data:`dgate.net.services.SERVICES`;
the network layer never imports this package.

* :mod:`.nmessages`  – request/response/event types and command fields (PS3.7 §10)
* :mod:`.print_scp`  – Basic Grayscale/Color Print Management (PS3.4 H)
* :mod:`.commitment` – Storage Commitment Push Model (PS3.4 J)
* :mod:`.mpps`       – Modality Performed Procedure Step (PS3.4 F)
* :mod:`.table`      – the service table
* :mod:`.plugin`     – the DIMSE-N handlers on the server port (plug-in)
* :mod:`.commitment_scu` – storage commitment as SCU, our reports on a new association
"""
