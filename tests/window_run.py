"""Playing an App with its (headless) window on this thread while a driver acts on another."""
import threading


def run_beside(app, driver, wait: float) -> int:
    """`app.run()` here (the window's GL thread) while `driver()` runs on another thread;
    the window is closed when the driver ends, however it ends, which ends the run.
    Returns what `app.run()` returned, once the driver is done too (`wait` s at most)."""
    def side():
        try:
            driver()
        finally:
            if app.window is not None:
                app.window.close()

    t = threading.Thread(target=side)
    t.start()
    code = app.run()
    t.join(wait)
    return code
