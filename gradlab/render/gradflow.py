def gradient_flow(*a, **k): raise NotImplementedError
def state_gradients(*a, **k): raise NotImplementedError
