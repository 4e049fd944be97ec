namespace DockerProxy.Tests.Relay.Tcp;

/// <summary>Bounded polling for conditions the tests cannot await directly.</summary>
internal static class Poll
{
    /// <summary>Whether condition held at some check within timeout (checked every 50 ms).</summary>
    internal static async Task<bool> UntilAsync(Func<bool> condition, TimeSpan timeout)
    {
        long deadline = Environment.TickCount64 + (long)timeout.TotalMilliseconds;
        while (Environment.TickCount64 < deadline)
        {
            if (condition())
            {
                return true;
            }

            await Task.Delay(50);
        }

        return condition();
    }
}
