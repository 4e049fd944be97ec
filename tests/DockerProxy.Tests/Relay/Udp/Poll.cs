namespace DockerProxy.Tests.Relay.Udp;

/// <summary>Bounded polling for effects the tests cannot await directly (datagrams in flight).</summary>
internal static class Poll
{
    /// <summary>Whether condition held at some check within timeout (checked every 20 ms).</summary>
    internal static async Task<bool> UntilAsync(Func<bool> condition, TimeSpan? timeout = null)
    {
        long deadline = Environment.TickCount64 + (long)(timeout ?? Datagrams.Patience).TotalMilliseconds;
        while (Environment.TickCount64 < deadline)
        {
            if (condition())
            {
                return true;
            }

            await Task.Delay(20);
        }

        return condition();
    }
}
