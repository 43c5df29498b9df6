def check_figure(*a, **k): raise NotImplementedError
def findings_from(*a, **k): raise NotImplementedError
