"""Where and how computation runs: devices (`devices`), torch and OpenMP threads (`threads`), and the small loops
compiled on first use (`kernels`).

Nothing is imported here, so `supermasks.compute.threads` loads without torch: the command line sets the
thread variables before torch is first imported, since OpenMP reads them once.
"""
