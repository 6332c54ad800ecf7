//! The client registry.

use std::time::Duration;

use weir_hub::{ClientInfo, Hub, HubConfig, Role};
use weir_media::StreamKey;

fn info(port: u16) -> ClientInfo {
    ClientInfo {
        protocol: "rtmp",
        addr: ([127, 0, 0, 1], port).into(),
        role: None,
    }
}

#[tokio::test(start_paused = true)]
async fn register_count_list_kick_and_unregister() {
    let hub = Hub::new(HubConfig::default());
    let clients = hub.clients();
    let a = clients.register(info(1000));
    let b = clients.register(info(1001));
    assert_ne!(a.id(), b.id());
    assert_eq!(clients.count(), 2);

    let key = StreamKey::new("live", "s").unwrap();
    a.set_stream(key.clone(), Role::Publish);
    a.add_in(100);
    a.add_in(20);
    a.add_out(7);
    a.add_dropped(3);
    let list = clients.list();
    assert_eq!(list.len(), 2);
    let snap = &list[0];
    assert_eq!(snap.id, a.id());
    assert_eq!(snap.protocol, "rtmp");
    assert_eq!(snap.addr.port(), 1000);
    assert_eq!(snap.role, Some(Role::Publish));
    assert_eq!(snap.stream.as_ref(), Some(&key));
    assert_eq!((snap.bytes_in, snap.bytes_out, snap.dropped), (120, 7, 3));
    assert_eq!(list[1].role, None);

    let kicked = {
        let hub = hub.clone();
        let id = b.id();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_secs(1)).await;
            hub.clients().kick(id)
        })
    };
    b.kicked().await;
    assert!(kicked.await.unwrap());
    b.kicked().await; // stays kicked

    assert!(!clients.kick(999));
    drop(b);
    assert_eq!(clients.count(), 1);
    assert!(clients.get(a.id()).is_some());
    drop(a);
    assert_eq!(clients.count(), 0);
}
