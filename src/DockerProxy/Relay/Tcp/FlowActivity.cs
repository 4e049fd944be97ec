namespace DockerProxy.Relay.Tcp;

/// <summary>When a connection last moved a byte either way (TimeProvider timestamps); only kept
/// when an idle timeout is set.</summary>
internal sealed class FlowActivity
{
    private readonly TimeProvider _time;
    private long _last;

    internal FlowActivity(TimeProvider time)
    {
        _time = time;
        _last = time.GetTimestamp();
    }

    internal void Touch() => Volatile.Write(ref _last, _time.GetTimestamp());

    internal TimeSpan IdleFor(long now) => _time.GetElapsedTime(Volatile.Read(ref _last), now);
}
