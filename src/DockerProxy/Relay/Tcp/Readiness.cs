using System.Threading.Tasks.Sources;

namespace DockerProxy.Relay.Tcp;

/// <summary>
/// What one direction of a connection awaits on the TCP event loop: its source readable or its
/// destination writable. Reused for every wait, so a wait allocates nothing. The continuation runs
/// on the thread that completes it (the loop's, inline), as the socket engine's inline completions
/// do. The result is false when the socket was closed (the connection is being cut).
/// </summary>
internal sealed class Readiness : IValueTaskSource<bool>
{
    private ManualResetValueTaskSourceCore<bool> _core; // RunContinuationsAsynchronously: false

    internal ValueTask<bool> Task => new(this, _core.Version);

    internal void Complete(bool ready) => _core.SetResult(ready);

    public bool GetResult(short token)
    {
        try
        {
            return _core.GetResult(token);
        }
        finally
        {
            _core.Reset();
        }
    }

    public ValueTaskSourceStatus GetStatus(short token) => _core.GetStatus(token);

    public void OnCompleted(Action<object?> continuation, object? state, short token, ValueTaskSourceOnCompletedFlags flags) =>
        _core.OnCompleted(continuation, state, token, flags);
}
