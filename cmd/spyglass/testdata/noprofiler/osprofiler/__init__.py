# Hides osprofiler from the Python clients these tests run (glance,
# openstack): PYTHONPATH puts this directory first (noProfiler in
# cmd/spyglass's tests). glanceclient, keystoneauth1 and osc-lib import it
# only if they can, for --profile, which no test asks for; imported, it
# pulls in eventlet and oslo.concurrency: half a second of CPU in every
# command, a minute of make test's. python3-glance installs it, a client
# host need not have it.
raise ImportError("osprofiler is hidden from the clients under test")
